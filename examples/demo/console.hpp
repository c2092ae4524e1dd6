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

// What the progress line shows: the load generator's side (connections open, round trips done,
// the rate since the last update) and the server pool's (running, waiting, limit).
struct progress {
  double elapsed_s = 0;
  std::size_t open = 0, connections = 0;  // client connections open now, of how many
  std::size_t messages = 0;               // echo round trips completed
  double rate = 0;                        // messages per second since the previous update
  std::size_t running = 0, waiting = 0, limit = 0;
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
