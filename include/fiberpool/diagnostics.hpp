// Process-wide live-object counters, for leak checks in tests and for monitoring.
#pragma once

#include <cstddef>

namespace fiberpool::diagnostics {

struct counters {
  std::size_t fibers = 0;         // fibers created by any runtime and not yet finished
  std::size_t job_records = 0;    // job records alive (held by a pool or a job handle)
  std::size_t stacks_in_use = 0;  // fiber stacks handed out and not given back
  std::size_t stacks_cached = 0;  // stacks kept for reuse in the per-thread and slab caches
  std::size_t runtimes = 0;       // runtimes alive (each task_pool may own one)
};

// snapshot: the counters now. `fibers`, `job_records` and `stacks_in_use` are 0 once every pool
// and runtime has been destroyed and every job handle dropped.
counters snapshot() noexcept;

// fail_next_stack_allocations: makes the next n fiber-stack allocations fail as if memory or
// vm.max_map_count ran out. For tests of resource exhaustion; 0 turns it off.
void fail_next_stack_allocations(std::size_t n) noexcept;

}  // namespace fiberpool::diagnostics
