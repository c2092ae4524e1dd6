// semaphore: permits handed to waiters in FIFO order by release().
#include <fiberpool/sync.hpp>

namespace fiberpool {

semaphore::semaphore(std::size_t n) : count_(n) {}

void semaphore::acquire() { acquire_until(std::nullopt); }

bool semaphore::try_acquire_for(clock::duration d) { return acquire_until(clock::now() + d); }

bool semaphore::try_acquire() {
  std::lock_guard lk(mu_);
  if (count_ == 0) return false;
  --count_;
  return true;
}

bool semaphore::acquire_until(std::optional<clock::time_point> deadline) {
  detail::raise_cancellation();
  std::unique_lock lk(mu_);
  if (count_ > 0 && waiters_.empty()) {
    --count_;
    return true;
  }
  for (;;) {
    // release() hands the permit over by notifying: `notified` means we own one.
    auto st = detail::wait_on(waiters_, lk, deadline, {"semaphore", this});
    if (st == detail::wait_status::notified) return true;
    if (st == detail::wait_status::timed_out) return false;
    lk.unlock();
    detail::raise_cancellation();
    lk.lock();
  }
}

void semaphore::release(std::size_t n) {
  std::lock_guard lk(mu_);
  for (; n > 0 && waiters_.notify_one(); --n) {}
  count_ += n;
}

std::size_t semaphore::available() const {
  std::lock_guard lk(mu_);
  return count_;
}

}  // namespace fiberpool
