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
[[gnu::tls_model("initial-exec")]] extern thread_local boost::fibers::context* tl_running;
inline boost::fibers::context* running_context() noexcept { return tl_running; }

class algorithm final : public boost::fibers::algo::algorithm {
 public:
  algorithm(worker_set& workers, worker_slot& self) noexcept : workers_(workers), self_(self) {}

  void awakened(boost::fibers::context* ctx) noexcept override;
  boost::fibers::context* pick_next() noexcept override;
  bool has_ready_fibers() const noexcept override { return !self_.ready.empty(); }
  void suspend_until(std::chrono::steady_clock::time_point const& deadline) noexcept override;
  void notify() noexcept override { self_.idle.wake(); }

 private:
  void poll_io() noexcept;
  boost::fibers::context* pick() noexcept;  // pick_next() but for telling the sanitizers

  worker_set& workers_;
  worker_slot& self_;
  boost::fibers::scheduler* scheduler_ = nullptr;  // this thread's, learnt at the first pick_next()
};

}  // namespace fiberpool::scheduler
