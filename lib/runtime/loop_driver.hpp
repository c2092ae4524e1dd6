// loop_driver: drives a hosted runtime from a host's event_loop.
#pragma once

#include <functional>
#include <memory>
#include <optional>

#include <fiberpool/event_loop.hpp>
#include <fiberpool/runtime.hpp>

namespace fiberpool::detail {

// Registers the runtime's poll_fd() as a reader of the loop, and asks the loop to call back at the
// runtime's next deadline; both call run_ready(). Everything runs on the loop's thread, which is
// the runtime's. `keep_going`, if set, is asked after each run: once false, the driver leaves the
// loop.
class loop_driver {
 public:
  loop_driver(event_loop& loop, fiberpool::runtime& rt, std::function<bool()> keep_going);
  ~loop_driver();  // leaves the loop if it has not yet (call on the loop's thread)
  loop_driver(const loop_driver&) = delete;
  loop_driver& operator=(const loop_driver&) = delete;

  // pump: run_ready(), then re-arm the deadline callback (or leave the loop).
  void pump();

 private:
  void arm();
  void leave() noexcept;

  event_loop& loop_;
  fiberpool::runtime& rt_;
  std::function<bool()> keep_going_;
  int fd_;
  bool registered_ = false;
  std::optional<clock::time_point> armed_;  // the earliest call_at pending
  // The loop's call_at cannot be cancelled: a pending callback holds this and finds it null once
  // the driver is gone.
  std::shared_ptr<loop_driver*> self_;
};

}  // namespace fiberpool::detail
