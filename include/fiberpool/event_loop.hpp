// event_loop: what a host's own event loop offers, so a pool can run on the host's thread.
#pragma once

#include <functional>

#include <fiberpool/types.hpp>

namespace fiberpool {

// Implement this over your server's loop (a raw epoll loop, libuv, Qt...), or use
// asio_event_loop (<fiberpool/asio.hpp>) for a boost::asio::io_context. Every call comes from the
// loop's own thread. task_pool::register_with_event_loop() uses it (Celery's
// register_with_event_loop; folly's EventBase integration).
class event_loop {
 public:
  virtual ~event_loop() = default;
  // add_reader: call on_readable (on the loop's thread) whenever fd is readable, until removed.
  virtual void add_reader(int fd, std::function<void()> on_readable) = 0;
  virtual void remove_reader(int fd) = 0;
  // call_at: call fn once at (or soon after) t.
  virtual void call_at(clock::time_point t, std::function<void()> fn) = 0;
};

}  // namespace fiberpool
