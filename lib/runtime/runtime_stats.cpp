// runtime_stats: runtime::stats(), read from the scheduler slots' own counters without stopping them.
#include "runtime/runtime_core.hpp"
#include "scheduler/stack_allocator.hpp"

namespace fiberpool::detail {

runtime_stats runtime_core::stats() const {
  runtime_stats s;
  s.threads = threads();
  s.fibers = live_fibers();
  s.stacks_in_use = scheduler::stacks_in_use();
  s.stacks_cached = scheduler::stacks_cached();
  // Slots keep their counts when restart() gives them to new threads, so the totals only grow.
  auto& workers = const_cast<scheduler::worker_set&>(workers_);
  for (std::size_t i = 0; i < workers.capacity(); ++i) {
    auto& slot = workers.at(i);
    s.ready += slot.ready.size();
    s.switches += slot.resumed.load(std::memory_order_relaxed);
    s.steals += slot.steals.load(std::memory_order_relaxed);
    s.wakeups += slot.wakeups.load(std::memory_order_relaxed);
  }
  s.lag_seconds = base::to_histogram(lag_.read(0));
  return s;
}

}  // namespace fiberpool::detail
