// parker: the primitive every fiberpool wait ends in: one fiber (or thread) waiting to be woken.
#pragma once

#include <optional>

#include <boost/fiber/context.hpp>
#include <boost/fiber/detail/spinlock.hpp>
#include <boost/fiber/waker.hpp>

#include <fiberpool/types.hpp>

namespace fiberpool::detail {

// park_until() suspends only the calling fiber when called on a fiber, and blocks the thread
// otherwise (Boost.Fiber gives every thread a main context). unpark() is safe from any thread and
// never suspends, so it may be called under a spin_mutex; an unpark before the park is kept.
// At most one caller parks on a parker at a time.
//
// This is boost::fibers::condition_variable_any cut down to one waiter, on Boost's public waker
// API, so that its spin lock is never taken through spinlock_ttas::lock(): that function keeps a
// std::random_device (5,000 bytes) in its frame, and every call would touch a second stack page
// below the parked job for as long as it waits.
class parker {
 public:
  // park_until: waits for unpark() or the deadline; true if unparked. Consumes the unpark.
  bool park_until(std::optional<clock::time_point> deadline) noexcept;
  void unpark() noexcept;

 private:
  boost::fibers::detail::spinlock_lock lock() noexcept;

  // Guards the fields below. Boost's own lock type because a suspending fiber hands it to Boost,
  // which releases it only once the fiber is switched out, so an unpark cannot wake it earlier.
  boost::fibers::detail::spinlock splk_;
  boost::fibers::waker waiter_;  // the parked context; valid while `waiting_`
  bool waiting_ = false;
  bool unparked_ = false;
};

}  // namespace fiberpool::detail
