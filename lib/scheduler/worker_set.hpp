// worker_set: the per-thread scheduling slots of one runtime, and stealing between them.
#pragma once

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>

#include "scheduler/idle_waker.hpp"
#include "scheduler/poll_source.hpp"
#include "scheduler/ready_queue.hpp"
#include "scheduler/watch_gate.hpp"

namespace fiberpool::scheduler {

enum class slot_state : int { unused, active, retiring, exited };

// host_driver: how the thread of a hosted runtime hands control back to its host's event loop
// instead of sleeping (see runtime::run_ready()).
class host_driver {
 public:
  // idle: nothing is ready to run; `deadline` is when the earliest sleeping fiber wakes. True if
  // the host takes over, false if the thread should idle as usual.
  virtual bool idle(std::chrono::steady_clock::time_point deadline) noexcept = 0;

 protected:
  ~host_driver() = default;
};

// One scheduler thread's share of the runtime. `hosted` counts the non-pinned fibers attached to
// the thread, so a retiring thread knows when it may leave.
struct worker_slot {
  ready_queue ready;
  idle_waker idle;
  std::atomic<bool> sleeping{false};
  std::atomic<bool> waking{false};  // woken by wake_sleeper() and not yet back in pick()
  std::atomic<slot_state> state{slot_state::unused};
  std::atomic<long> hosted{0};
  std::size_t index = 0;
  bool wake_deferred = false;     // fibers were made ready by the hub or dispatcher since the last pick
  host_driver* driver = nullptr;  // set on the thread of a hosted runtime

  // Progress marks, read by the runtime's stall watchdog (lib/runtime/stall_watch.hpp) from its
  // own thread. Only the slot's thread writes them, in pick(): a plain load and store, no locked
  // instruction. resumed: job fibers (non-pinned contexts) this thread resumed; run_ready() counts
  // with it too. running: the job fiber it runs now, null while it runs its hub, its dispatcher,
  // its host's loop, or idles. A thread whose `resumed` has not moved while `running` stayed the
  // same non-null context has run that fiber without a switch in between.
  std::atomic<std::size_t> resumed{0};
  std::atomic<context*> running{nullptr};
  // idle_now: asleep in epoll, or handed back to its host's loop (watch_gate.hpp).
  std::atomic<bool> idle_now{false};
  // thread: the runtime's index for the thread on this slot (what on_thread_start saw); set
  // before the thread starts, read by the watchdog.
  std::atomic<std::size_t> thread{0};
  // For runtime::stats(), written only by the slot's thread (a plain load and store): ready
  // fibers it took from other threads' queues, and times it woke from its idle epoll_wait.
  std::atomic<std::uint64_t> steals{0};
  std::atomic<std::uint64_t> wakeups{0};
  static void count(std::atomic<std::uint64_t>& c) noexcept {
    c.store(c.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);
  }

  // host: changes `hosted`. Only the slot's own thread calls it (Boost runs awakened() and
  // pick_next() on the thread a fiber is attached to), so a plain load and store do: no locked
  // instruction on every switch.
  void host(long delta) noexcept {
    hosted.store(hosted.load(std::memory_order_relaxed) + delta, std::memory_order_relaxed);
  }
  // resumed_one: a job fiber is resumed. Release, so that a reader that sees the new count also
  // sees the `running` stored before it (a plain store on x86).
  void resumed_one() noexcept {
    resumed.store(resumed.load(std::memory_order_relaxed) + 1, std::memory_order_release);
  }
};

// A fixed-capacity array of slots (so hooks can index it without locks); restart() takes unused
// or exited slots for its new threads.
class worker_set {
 public:
  explicit worker_set(std::size_t capacity);

  // claim: an unused or exited slot, made active; null when all are taken.
  worker_slot* claim() noexcept;
  worker_slot& at(std::size_t i) noexcept { return slots_[i]; }
  std::size_t capacity() const noexcept { return capacity_; }

  // steal: a ready fiber from another thread's queue, or null.
  context* steal(worker_slot& thief) noexcept;
  // forward_target: an active slot to hand fibers to (a retiring thread gives its fibers away).
  worker_slot* forward_target(worker_slot& from) noexcept;
  // idle_threads: how many threads sleep, or were woken and have not picked work yet (a hint:
  // one may wake or fall asleep at any moment). Work made now may go to them.
  std::size_t idle_threads() const noexcept {
    int n = sleepers_.load(std::memory_order_relaxed) + waking_.load(std::memory_order_relaxed);
    return n > 0 ? static_cast<std::size_t>(n) : 0;
  }
  // picking: the calling slot's thread is back in pick(); it no longer counts as waking.
  void picking(worker_slot& self) noexcept {
    if (self.waking.load(std::memory_order_relaxed) && self.waking.exchange(false, std::memory_order_relaxed))
      waking_.fetch_sub(1, std::memory_order_relaxed);
  }
  // wake_sleeper: wakes one sleeping thread other than `self`, if any, to steal new work.
  void wake_sleeper(worker_slot& self) noexcept;
  // spin: before sleeping, one thread at a time polls briefly for work to steal or a wake; true if
  // it found some. While a thread spins, new work wakes nobody: the spinner will take it.
  bool spin(worker_slot& self) noexcept;
  // go_idle / leave_idle: bracket a sleep; go_idle returns false if work appeared meanwhile.
  bool go_idle(worker_slot& self) noexcept;
  void leave_idle(worker_slot& self) noexcept;
  // active: how many slots are active.
  std::size_t active() const noexcept;
  // io: the runtime's I/O poller, if it has one; set before any thread starts.
  void set_io(poll_source* io) noexcept { io_ = io; }
  poll_source* io() const noexcept { return io_; }
  // any_awake: some active or retiring slot's thread is not idling (watch_gate::rest()).
  bool any_awake() const noexcept;
  // The handshake that lets the stall watchdog sleep while every thread idles.
  watch_gate gate;

 private:
  bool stealable_elsewhere(const worker_slot& self) const noexcept;

  std::unique_ptr<worker_slot[]> slots_;
  std::size_t capacity_;
  std::atomic<std::size_t> used_{0};      // slots [0, used_) have been claimed at least once
  std::atomic<int> sleepers_{0};
  std::atomic<int> waking_{0};  // woken by wake_sleeper() and not yet back in pick()
  std::atomic<int> spinners_{0};
  std::atomic<std::size_t> next_target_{0};
  poll_source* io_ = nullptr;
};

}  // namespace fiberpool::scheduler
