// idle_waker: how a scheduler thread sleeps when it has nothing to run, and how it is woken.
#pragma once

#include <atomic>
#include <chrono>

namespace fiberpool::scheduler {

// The thread sleeps in epoll_wait on its own epoll instance (the one fd waits will share), bounded
// by the next timer deadline; wake() writes an eventfd registered in that epoll. Wakes are
// coalesced: at most one write is outstanding until the sleeper consumes it.
class idle_waker {
 public:
  idle_waker();   // throws std::system_error if epoll or eventfd cannot be created
  ~idle_waker();
  idle_waker(const idle_waker&) = delete;
  idle_waker& operator=(const idle_waker&) = delete;

  // wait_until: returns on wake(), at the deadline (max(): none), or when an fd is ready.
  void wait_until(std::chrono::steady_clock::time_point deadline) noexcept;
  void wake() noexcept;
  int epoll_fd() const noexcept { return epfd_; }

 private:
  int epfd_ = -1;
  int evfd_ = -1;
  std::atomic<bool> pending_{false};
};

}  // namespace fiberpool::scheduler
