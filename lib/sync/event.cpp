// event: a flag and the fibers and threads waiting for it.
#include <fiberpool/sync.hpp>

namespace fiberpool {

void event::set() {
  std::lock_guard lk(mu_);
  set_ = true;
  waiters_.notify_all();
}

void event::clear() {
  std::lock_guard lk(mu_);
  set_ = false;
}

bool event::is_set() const {
  std::lock_guard lk(mu_);
  return set_;
}

void event::wait() { wait_until(clock::time_point::max()); }

bool event::wait_for(clock::duration d) { return wait_until(clock::now() + d); }

bool event::wait_until(clock::time_point t) {
  detail::raise_cancellation();
  std::optional<clock::time_point> deadline;
  if (t != clock::time_point::max()) deadline = t;
  std::unique_lock lk(mu_);
  while (!set_) {
    auto st = detail::wait_on(waiters_, lk, deadline, {"event", this});
    if (st == detail::wait_status::cancelled) {
      lk.unlock();
      detail::raise_cancellation();
      lk.lock();
    } else if (st == detail::wait_status::timed_out) {
      return set_;
    }
  }
  return true;
}

}  // namespace fiberpool
