// watch_gate: lets a runtime's stall watchdog sleep while every one of its scheduler threads idles.
#pragma once

#include <atomic>

namespace fiberpool::scheduler {

class worker_set;
struct worker_slot;

// A thread marks itself idle before it sleeps in epoll (or hands control back to its host's loop)
// and busy once it is back; only then can it run a job that stalls. The watchdog rests only when
// it saw every thread idle, and the first thread to come back wakes it. Both sides announce
// themselves before they look at the other (seq_cst), so one of the two always sees the other: a
// thread never runs a job unwatched, and an idle runtime's watchdog never ticks.
// Neither call is on a hot path: thread_busy() follows an epoll wait.
class watch_gate {
 public:
  // thread_idle: the slot's thread is about to sleep, or to run its host's loop.
  static void thread_idle(worker_slot& self) noexcept;
  // thread_busy: the slot's thread stopped idling; wakes a resting watchdog.
  void thread_busy(worker_slot& self) noexcept;
  // rest: on the watchdog's thread, sleeps until a thread of `workers` stops idling or stop() is
  // called; returns at once if a thread is not idle now. Returns false once stopped.
  bool rest(const worker_set& workers) noexcept;
  // stop: rest() returns false from now on, and a resting watchdog wakes.
  void stop() noexcept;

 private:
  enum : int { awake, resting, stopped };
  std::atomic<int> state_{awake};
};

}  // namespace fiberpool::scheduler
