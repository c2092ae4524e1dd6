// parker: a flag and one Boost.Fiber waker, under one spin lock held across the switch away.
#include <fiberpool/detail/parker.hpp>

#include <mutex>
#include <thread>
#include <utility>

#include "scheduler/algorithm.hpp"
#include "scheduler/sanitizers.hpp"

namespace fiberpool::detail {

boost::fibers::detail::spinlock_lock parker::lock() noexcept {
  // Only try_lock(), never spinlock_ttas::lock() (see parker.hpp). The lock is held for a few
  // instructions, by one parker and one unparker, so contention is brief; past a short spin the
  // waiter yields its thread, as spin_mutex does, so a 2-core machine cannot livelock.
  for (unsigned spins = 0; !splk_.try_lock(); ++spins) {
    if (spins < 64) {
#if defined(__x86_64__) || defined(__i386__)
      __builtin_ia32_pause();
#endif
    } else {
      std::this_thread::yield();
    }
  }
  scheduler::sanitizers::lock_acquired(&splk_);
  return boost::fibers::detail::spinlock_lock(splk_, std::adopt_lock);
}

bool parker::park_until(std::optional<clock::time_point> deadline) noexcept {
  // A debt still owed here came with a move after a yield or a start, not with a wake (that one is
  // paid below, on the way out of the wait the wake ended): no waker is under way.
  scheduler::settle_debt();
  bool suspended = false;
  auto lk = lock();
  while (!unparked_) {
    auto* self = boost::fibers::context::active();
    // A fresh waker outdates every earlier one, so a late wake from a past park is ignored.
    waiter_ = self->create_waker();
    waiting_ = true;
    // Both calls release lk once this context is switched out, and return with it unlocked.
    bool timed_out = false;
    scheduler::sanitizers::lock_released(&splk_);  // Boost unlocks it where TSan cannot see
    if (!deadline) self->suspend(lk);
    else timed_out = !self->wait_until(*deadline, lk, boost::fibers::waker(waiter_));
    scheduler::sanitizers::arrived();  // control came back through a switch: complete it
    suspended = true;
    lk = lock();
    waiting_ = false;
    if (timed_out) break;
  }
  // Whoever woke us held this lock until its wake had returned: the thread we were woken on may
  // exit now (algorithm.hpp, "Leaving threads").
  if (suspended) scheduler::settle_debt();
  bool woken = unparked_;
  unparked_ = false;
  return woken;
}

void parker::unpark() noexcept {
  // Wake under the lock: the parked side may return and destroy the parker as soon as it can
  // take the lock, so nothing of it may be touched after the unlock.
  auto lk = lock();
  unparked_ = true;
  if (std::exchange(waiting_, false)) waiter_.wake();
}

}  // namespace fiberpool::detail
