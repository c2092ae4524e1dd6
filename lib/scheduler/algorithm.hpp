// algorithm: fiberpool's Boost.Fiber scheduling algorithm, one instance per runtime thread.
#pragma once

#include <chrono>

#include <boost/fiber/algo/algorithm.hpp>
#include <boost/fiber/scheduler.hpp>

#include "scheduler/worker_set.hpp"

namespace fiberpool::scheduler {

// Unlike Boost's work_stealing, whose state is static (one per process, a fixed thread count,
// spinning when idle), this algorithm's state belongs to one runtime's worker_set. Ready fibers are
// FIFO per thread; an idle thread steals, then sleeps in epoll until woken or the next deadline.
// running_context: the context the calling thread's algorithm last handed to Boost, which is the
// one running now: every switch Boost.Fiber makes goes to what pick_next() returned, or to the
// dispatcher when it returned null (null here too). Null on threads that are not a runtime's.
// Cheaper than boost::fibers::context::active(), a TLS lookup inside a shared library.
// constinit: no dynamic initialisation, so a read is one load, without a call to a TLS wrapper.
[[gnu::tls_model("initial-exec")]] extern constinit thread_local boost::fibers::context* tl_running;
inline boost::fibers::context* running_context() noexcept { return tl_running; }

// yield: the running fiber goes to the back of its thread's ready queue and the next one runs.
// Boost hands the yielding context to awakened() from the fiber it switched to, which looks like a
// wake by that fiber (lifo: runs next, wakes a sleeper); this marks it, so a yield is round robin
// (boost::this_fiber::yield() called directly still works, but is taken for such a wake).
[[gnu::tls_model("initial-exec")]] extern constinit thread_local boost::fibers::context* tl_yielding;
void yield() noexcept;

// Leaving threads. A thread's Boost scheduler, and this algorithm in it, die with the thread. A
// wake from another thread (context::wake -> scheduler::schedule_from_remote) links the fiber into
// that scheduler's remote queue, unlocks it, and only then calls notify() on the algorithm; the
// owning thread may take the fiber from the queue in between. Had the fiber then gone to another
// thread (stolen, or forwarded by a retiring thread) and the owner exited, as restart() makes old
// threads do and ~runtime every thread, notify() would read freed memory. Every fiberpool wake is
// parker::unpark(), which holds the parker's lock through the whole wake, and the woken fiber takes
// that lock back before park_until() returns: from then on its waker is done with the scheduler.
// (A fiber the owner runs itself takes it on the owner's thread, before the owner can exit.)
// So a fiber that leaves a thread's queue for another thread owes that queue (ready_queue::charge)
// until it settles (settle_debt: in park_until(), on entry and once it has the lock back, and as
// its body ends), and a leaving thread exits only once its queue is drained().
//
// settle_debt: called by the running fiber at those points; pays its debt if it has one.
void settle_debt() noexcept;

class algorithm final : public boost::fibers::algo::algorithm {
 public:
  algorithm(worker_set& workers, worker_slot& self) noexcept : workers_(workers), self_(self) {}
  ~algorithm() override;

  void awakened(boost::fibers::context* ctx) noexcept override;
  boost::fibers::context* pick_next() noexcept override;
  bool has_ready_fibers() const noexcept override { return !self_.ready.empty(); }
  void suspend_until(std::chrono::steady_clock::time_point const& deadline) noexcept override;
  void notify() noexcept override {
    self_.ready.remote_wake();
    self_.idle.wake();
  }

 private:
  void poll_io() noexcept;
  boost::fibers::context* pick() noexcept;  // pick_next() but for telling the sanitizers

  worker_set& workers_;
  worker_slot& self_;
  boost::fibers::scheduler* scheduler_ = nullptr;  // this thread's, learnt at the first pick_next()
};

}  // namespace fiberpool::scheduler
