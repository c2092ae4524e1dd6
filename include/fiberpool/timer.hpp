// timer: callbacks at a time, after a delay, or repeatedly, on the fibers of a pool's runtime.
#pragma once

#include <cstddef>
#include <functional>
#include <memory>

#include <fiberpool/types.hpp>

namespace spdlog { class logger; }

namespace fiberpool {

class runtime;
namespace detail { struct timer_entry; class timer_core; }

// A handle to one scheduled callback; default-constructed handles refer to nothing.
class timer_ref {
 public:
  timer_ref() = default;
  bool valid() const noexcept { return entry_ != nullptr; }

 private:
  friend class timer;
  explicit timer_ref(std::shared_ptr<detail::timer_entry> e) : entry_(std::move(e)) {}
  std::shared_ptr<detail::timer_entry> entry_;
};

// Eventlet/Celery's Timer. Callbacks run each on a fiber of the runtime; they are not jobs (no
// limit, no id). An exception a callback throws is logged and the timer goes on. A repeating
// callback is not started again while its previous run is still going; missed periods are skipped.
class timer {
 public:
  timer(runtime& rt, std::shared_ptr<spdlog::logger> log);
  ~timer();  // clear(), then waits for callbacks already running
  timer(const timer&) = delete;
  timer& operator=(const timer&) = delete;

  // call_after / call_at: one-shot. Throws std::invalid_argument for an empty fn.
  timer_ref call_after(clock::duration d, std::function<void()> fn);
  timer_ref call_at(clock::time_point t, std::function<void()> fn);
  // call_repeatedly: first call after `interval`, then every `interval`. A zero or negative
  // interval throws std::invalid_argument.
  timer_ref call_repeatedly(clock::duration interval, std::function<void()> fn);

  // cancel: false if it already fired (one-shot) or was cancelled. A callback already running
  // finishes; a repeating one is not called again.
  bool cancel(timer_ref r);
  // clear: cancels everything pending.
  void clear();
  // pending: one-shots not yet fired plus repeating callbacks not cancelled.
  std::size_t pending() const;
  // wait_idle: waits until no callback is running (used by pool shutdown).
  void wait_idle();

 private:
  std::shared_ptr<detail::timer_core> core_;
};

}  // namespace fiberpool
