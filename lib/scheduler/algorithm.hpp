// algorithm: fiberpool's Boost.Fiber scheduling algorithm, one instance per runtime thread.
#pragma once

#include <chrono>

#include <boost/fiber/algo/algorithm.hpp>

#include "scheduler/worker_set.hpp"

namespace fiberpool::scheduler {

// Unlike Boost's work_stealing, whose state is static (one per process, a fixed thread count,
// spinning when idle), this algorithm's state belongs to one runtime's worker_set. Ready fibers are
// FIFO per thread; an idle thread steals, then sleeps in epoll until woken or the next deadline.
class algorithm final : public boost::fibers::algo::algorithm {
 public:
  algorithm(worker_set& workers, worker_slot& self) noexcept : workers_(workers), self_(self) {}

  void awakened(boost::fibers::context* ctx) noexcept override;
  boost::fibers::context* pick_next() noexcept override;
  bool has_ready_fibers() const noexcept override { return !self_.ready.empty(); }
  void suspend_until(std::chrono::steady_clock::time_point const& deadline) noexcept override;
  void notify() noexcept override { self_.idle.wake(); }

 private:
  worker_set& workers_;
  worker_slot& self_;
};

}  // namespace fiberpool::scheduler
