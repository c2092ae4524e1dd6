// parker: a flag and a Boost.Fiber condition variable, both under one spin lock.
#include <fiberpool/detail/parker.hpp>

#include <mutex>

#include "scheduler/sanitizers.hpp"

namespace fiberpool::detail {

bool parker::park_until(std::optional<clock::time_point> deadline) noexcept {
  std::unique_lock lk(mu_);
  while (!unparked_) {
    // Control comes back here from a switch (on whatever thread now runs us): complete it.
    if (!deadline) {
      cv_.wait(lk);
      scheduler::sanitizers::arrived();
    } else {
      bool timed_out = cv_.wait_until(lk, *deadline) == boost::fibers::cv_status::timeout;
      scheduler::sanitizers::arrived();
      if (timed_out) break;
    }
  }
  bool woken = unparked_;
  unparked_ = false;
  return woken;
}

void parker::unpark() noexcept {
  // Notify under the lock: the parked side may return and destroy the parker as soon as it can
  // take the lock, so nothing of it may be touched after the unlock.
  std::lock_guard lk(mu_);
  unparked_ = true;
  cv_.notify_one();
}

}  // namespace fiberpool::detail
