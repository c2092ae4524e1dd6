// control_server: Celery's remote control (inspect / control) for fiberpool, over a Unix socket.
#pragma once

#include <chrono>
#include <cstddef>
#include <memory>
#include <string>
#include <vector>

#include <sys/types.h>

#include <fiberpool/runtime.hpp>

namespace fiberpool {

struct control_options {
  // path: the socket's path. Made mode 0600; an existing socket file that nobody listens on is
  // replaced; one somebody listens on, or any other file, is an error.
  std::string path;
  // allowed_uids: the peers (by SO_PEERCRED uid) that may talk; empty: this process's uid only.
  // Root is not implied. Any other peer is refused before a byte is read, and the refusal logged.
  std::vector<uid_t> allowed_uids;
  // read_only: refuse the commands that change anything (grow, shrink, resize, terminate,
  // cancel-group).
  bool read_only = false;
  std::size_t max_line_bytes = 64 * 1024;       // a longer request line is refused and the connection closed
  std::size_t max_requests_per_second = 100;    // per connection; past it, requests are refused
  std::size_t max_connections = 16;             // served at once; more wait in the listen backlog
  // idle_timeout: a connection that sends nothing (or only part of a line) for this long is
  // closed, so that half-open peers cannot hold every connection slot.
  std::chrono::milliseconds idle_timeout = std::chrono::seconds(60);
};

// control_server: serves the protocol below on fibers of `rt` (an acceptor and one job per
// connection of an internal task_pool named "fiberpool-control"); every live pool of the process is
// visible, named as prometheus_text() names them ("web", and "web#2" for a second pool of that
// name). Throws io_error if the socket cannot be made, std::invalid_argument for bad options.
//
// The protocol: one JSON object per line each way. Requests: {"cmd": "ping"}, {"cmd": "stats",
// "pool"?: name}, {"cmd": "inspect", "what": "active"|"queued", "pool"?: name}, {"cmd": "dump"},
// {"cmd": "metrics"}, {"cmd": "grow"|"shrink"|"resize", "pool": name, "n": count},
// {"cmd": "terminate", "id": job id, "signal"?: number}, {"cmd": "cancel-group", "pool": name,
// "group": name}. Replies: {"ok": true, ...} or {"ok": false, "error": "what to do"}.
// fiberpool-ctl (tools/fiberpool-ctl) speaks it.
class control_server {
 public:
  control_server(runtime& rt, control_options opts);
  // ~control_server: stops serving, ends its connections, removes the socket file.
  ~control_server();
  control_server(const control_server&) = delete;
  control_server& operator=(const control_server&) = delete;

  const std::string& path() const noexcept;
  std::size_t refused_peers() const noexcept;  // connections refused for their uid, so far

  struct state;  // lib/control/control_server.cpp

 private:
  std::unique_ptr<state> state_;
};

}  // namespace fiberpool
