// diagnostics::snapshot: gathers the live-object counters each layer keeps.
#include <fiberpool/diagnostics.hpp>

#include "runtime/runtime_core.hpp"
#include "scheduler/stack_allocator.hpp"

namespace fiberpool::detail {
std::size_t live_job_records() noexcept;  // lib/pool/job_record.cpp
}

namespace fiberpool::diagnostics {

counters snapshot() noexcept {
  counters c;
  c.fibers = detail::live_fibers();
  c.job_records = detail::live_job_records();
  c.stacks_in_use = scheduler::stacks_in_use();
  c.stacks_cached = scheduler::stacks_cached();
  c.runtimes = detail::live_runtimes();
  return c;
}

void fail_next_stack_allocations(std::size_t n) noexcept { scheduler::fail_next_allocations(n); }

}  // namespace fiberpool::diagnostics
