// ready_queue: one scheduler thread's ready fibers; other threads of the runtime steal from it.
#pragma once

#include <atomic>
#include <cstddef>
#include <memory>

#include <boost/fiber/context.hpp>

#include <fiberpool/detail/spin_mutex.hpp>

namespace fiberpool::scheduler {

using boost::fibers::context;

// A growable ring of contexts, usable from both ends.
class context_ring {
 public:
  context_ring();
  std::size_t size() const noexcept { return size_; }
  context*& at(std::size_t i) noexcept { return ring_[(head_ + i) & (capacity_ - 1)]; }
  void push_back(context* ctx) noexcept;
  context* pop_front() noexcept;
  context* pop_back() noexcept;
  // take: removes and returns element i (a short shift: callers take near the back).
  context* take(std::size_t i) noexcept;

 private:
  void grow() noexcept;
  std::unique_ptr<context*[]> ring_;
  std::size_t capacity_;
  std::size_t head_ = 0;
  std::size_t size_ = 0;
};

// Two orders in one queue:
// - fifo: fibers that yielded, were woken from another thread or by the thread's hub, and new
//   fibers from the hub; run in arrival order, like round_robin.
// - lifo: fibers a running job made ready on this thread (a child it applied, a fiber it woke).
//   The newest runs first, as in work-first schedulers (Cilk, Go's and Tokio's run-next slot): a
//   job that applies children and waits for them runs the tree depth first, so a few stacks stay
//   hot in cache instead of a whole level of the tree holding one each.
// The owner takes lifo first, but after `lifo_streak` lifo picks in a row it takes one fifo fiber,
// so fibers that ping-pong through events cannot starve the rest. Thieves take the oldest lifo
// fiber (the root of the largest pending subtree), else the newest non-pinned fifo fiber; pinned
// contexts (a thread's main or dispatcher context) are never stolen and never lifo.
class ready_queue {
 public:
  static constexpr unsigned lifo_streak = 32;

  void push(context* ctx) noexcept;       // fifo
  void push_lifo(context* ctx) noexcept;  // lifo; ctx must not be pinned
  context* pop() noexcept;
  // fiber_ended: a fiber of this thread has ended (owner thread only). Boost frees an ended fiber's
  // stack only when the thread's dispatcher runs, once per round of the queue (below); after
  // `ended_burst` ends the dispatcher runs next instead, so a million fibers woken at once and
  // ending one after another hold a few dozen dead stacks, not a million.
  static constexpr unsigned ended_burst = 32;
  void fiber_ended() noexcept { ++ended_; }
  // The dispatcher's turn (Boost's: timed waits that expired, wakes from other threads, ended
  // fibers freed; ours: a busy thread's look at I/O) comes once per round of the fifo, as in
  // round_robin, but no sooner than `dispatcher_every` picks after its last one (Tokio looks at
  // I/O every 61 polls): fibers that yield to each other would otherwise pay a dispatcher pass,
  // a clock read and an extra switch, every round. A wake from another thread lands in Boost's
  // remote queue, which only the dispatcher drains, so it makes the dispatcher due at once
  // (remote_wake(), from the algorithm's notify()); so does a burst of ends, or nothing else ready.
  // Once a fiber has ended, the dispatcher is due at the round's end again, minimum or not.
  static constexpr unsigned dispatcher_every = 16;
  void remote_wake() noexcept { remote_wake_.store(true, std::memory_order_relaxed); }
  // steal: a non-pinned context for another thread, charged to this queue (charge()).
  context* steal() noexcept;
  bool empty() const noexcept { return size_.load(std::memory_order_relaxed) == 0; }
  std::size_t size() const noexcept { return size_.load(std::memory_order_relaxed); }
  // stealable: contexts a thief could take (non-pinned), as a hint for idling decisions.
  std::size_t stealable() const noexcept { return stealable_.load(std::memory_order_seq_cst); }

  // charge / settle: the debt of a fiber that leaves this queue's thread for another (stolen, or
  // forwarded by a retiring thread) while a wake from a third thread may still be inside this
  // thread's Boost scheduler (algorithm.hpp, "Leaving threads"). charge() records it in the fiber's
  // stack header unless the fiber already owes another queue; the fiber settles it itself
  // (scheduler::settle_debt). ctx must be a fiber of ours (not pinned).
  void charge(context* ctx) noexcept;
  void settle() noexcept { unsettled_.fetch_sub(1, std::memory_order_release); }
  // drained: no non-pinned context is queued and no fiber that left owes this queue, so the thread
  // may exit. Under the lock, so a steal under way is either seen or has charged already.
  bool drained() noexcept;

 private:
  void count(std::ptrdiff_t all, std::ptrdiff_t non_pinned) noexcept;

  detail::spin_mutex mu_;
  context_ring fifo_;
  context_ring lifo_;
  unsigned streak_ = 0;
  // Boost's dispatcher context waits beside the fifo, not in it: it is due after the `due_` fifo
  // fibers queued before it (a plain fifo's order), or at once after a burst of ended fibers.
  // Owner thread only, like ended_.
  context* dispatcher_ = nullptr;
  std::size_t dispatcher_due_ = 0;
  unsigned picks_ = 0;  // since the dispatcher last ran
  unsigned ended_ = 0;
  std::atomic<bool> remote_wake_{false};
  std::atomic<std::size_t> size_{0};
  std::atomic<std::size_t> stealable_{0};
  std::atomic<long> unsettled_{0};  // charged and not yet settled
};

}  // namespace fiberpool::scheduler
