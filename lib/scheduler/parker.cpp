// parker: a flag and a Boost.Fiber condition variable, both under one spin lock.
#include <fiberpool/detail/parker.hpp>

#include <mutex>

namespace fiberpool::detail {

bool parker::park_until(std::optional<clock::time_point> deadline) noexcept {
  std::unique_lock lk(mu_);
  while (!unparked_) {
    if (!deadline) {
      cv_.wait(lk);
    } else if (cv_.wait_until(lk, *deadline) == boost::fibers::cv_status::timeout) {
      break;
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
