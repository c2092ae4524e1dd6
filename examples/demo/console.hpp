// Console output: the demo's spdlog logger and the live progress line.
#pragma once

#include <cstddef>
#include <memory>

#include <spdlog/logger.h>

namespace demo {

// make_console_logger: an unregistered logger writing to stdout, in color on a terminal. The demo
// hands it to fiberpool (pool_options::logger and fiberpool::set_logger) and logs through it too.
// On a terminal every line starts by erasing the progress line, which it would otherwise run into.
std::shared_ptr<spdlog::logger> make_console_logger(bool terminal);

// What the progress line shows: the server pool's limit and the connections it serves (its
// running jobs), the client connections waiting in the listen backlog for a slot, and the round
// trips done (the rate since the last update).
struct progress {
  double elapsed_s = 0;
  std::size_t limit = 0, serving = 0;  // the server pool's limit() and running()
  std::size_t waiting = 0;             // connections in the listen backlog, waiting for a slot
  std::size_t messages = 0;            // echo round trips completed
  double rate = 0;                     // messages per second since the previous update
};

// progress_line: on a terminal, one line rewritten in place with '\r'; otherwise (a pipe, a file)
// one plain line per update, so that logs stay readable.
class progress_line {
 public:
  explicit progress_line(bool terminal) : terminal_(terminal) {}
  // show: draws an update.
  void show(const progress& p) const;
  // finish: draws the last update and leaves it on screen.
  void finish(const progress& p) const;

 private:
  bool terminal_;
};

}  // namespace demo
