// idle_waker: how a scheduler thread sleeps when it has nothing to run, and how it is woken.
#pragma once

#include <atomic>
#include <chrono>

namespace fiberpool::scheduler {

// The thread sleeps in epoll_wait on its own epoll instance (the one fd waits will share), bounded
// by the next timer deadline; wake() writes an eventfd registered in that epoll. A wake() for a
// thread that is not asleep only sets a flag (no system call): the thread sees it before it sleeps.
class idle_waker {
 public:
  idle_waker();   // throws std::system_error if epoll or eventfd cannot be created
  ~idle_waker();
  idle_waker(const idle_waker&) = delete;
  idle_waker& operator=(const idle_waker&) = delete;

  // wait_until: returns on wake(), at the deadline (max(): none), or when an fd is ready; returns
  // at once if a wake() came since the last wait. True if a watched fd (watch()) was ready.
  bool wait_until(std::chrono::steady_clock::time_point deadline) noexcept;
  // watch: adds fd to this thread's epoll (level-triggered); wait_until then returns true when it
  // is readable. Throws std::system_error.
  void watch(int fd);
  void unwatch(int fd) noexcept;
  void wake() noexcept;
  // take_wake: consumes a pending wake(), if any (a spinning thread polls this instead of sleeping;
  // the caller then goes back to the dispatcher, which looks for what the waker published).
  bool take_wake() noexcept {
    return pending_.load(std::memory_order_relaxed) && pending_.exchange(false, std::memory_order_seq_cst);
  }
  int epoll_fd() const noexcept { return epfd_; }

  // For the thread of a hosted runtime, which "sleeps" in its host's loop between run_ready()
  // calls: there, wake() must write the eventfd so that the epoll fd (the runtime's poll_fd())
  // turns readable. set_hosted(true) makes that the state between waits; host_awake() and
  // host_asleep() bracket a run_ready() call.
  void set_hosted(bool hosted) noexcept { hosted_ = hosted; }
  void host_awake() noexcept;
  void host_asleep() noexcept;

 private:
  int epfd_ = -1;
  int evfd_ = -1;
  std::atomic<bool> pending_{false};   // a wake() not yet consumed by wait_until
  std::atomic<bool> sleeping_{false};  // in (or about to enter) epoll_wait
  std::atomic<bool> written_{false};   // an eventfd write is outstanding
  bool hosted_ = false;
};

}  // namespace fiberpool::scheduler
