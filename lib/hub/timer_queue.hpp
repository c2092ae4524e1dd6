// timer_queue: one runtime thread's pending timers, ordered by deadline.
#pragma once

#include <atomic>
#include <functional>
#include <map>
#include <optional>
#include <utility>
#include <vector>

#include <fiberpool/detail/spin_mutex.hpp>
#include <fiberpool/types.hpp>

namespace fiberpool::hub {

// Entries fire on the thread's hub fiber, so a firing action must be short and must not wait:
// actions that run user code start a fiber for it. Any thread may add or cancel entries.
class timer_queue {
 public:
  using action = std::function<void()>;

  // add: true if the entry became the earliest (the hub must shorten its sleep).
  bool add(clock::time_point when, std::uint64_t id, action fire);
  // cancel: true if the entry was still pending.
  bool cancel(clock::time_point when, std::uint64_t id);
  // take_due: removes and returns the actions due at `now`, earliest first, each with the time it
  // was due (how late it fires is the runtime's scheduler lag).
  struct due_action {
    clock::time_point when;
    action fire;
  };
  std::vector<due_action> take_due(clock::time_point now);
  std::optional<clock::time_point> next_deadline() const;
  // size: entries pending; lock-free, so an idle hub can skip reading the clock.
  std::size_t size() const noexcept { return count_.load(std::memory_order_acquire); }
  // move_to: hands every entry to `other` (a retiring thread's timers); false if none.
  bool move_to(timer_queue& other);

 private:
  using key = std::pair<clock::time_point, std::uint64_t>;
  mutable detail::spin_mutex mu_;
  std::map<key, action> entries_;
  std::atomic<std::size_t> count_{0};  // entries_.size(), readable without the lock
};

}  // namespace fiberpool::hub
