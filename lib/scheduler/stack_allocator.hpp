// stack_allocator: the Boost.Context StackAllocator fiberpool gives every fiber it creates.
#pragma once

#include <cstddef>

#include <boost/context/stack_context.hpp>

namespace fiberpool::scheduler {

// Page-aligned mmap'd stacks with a PROT_NONE guard page below them, recycled through a bounded
// per-thread cache (a freed stack goes to the cache of the thread that frees it; past the bound it
// goes back to the OS). Each guarded stack costs two memory maps, and Linux allows about 65,530
// per process (vm.max_map_count): past a budget read from /proc, stacks come unguarded from large
// slabs instead, and that is logged once.
class stack_allocator {
 public:
  // usable: bytes the fiber may use, rounded up to whole pages.
  explicit stack_allocator(std::size_t usable) noexcept;
  // allocate: throws std::system_error saying what ran out when no stack can be mapped.
  boost::context::stack_context allocate();
  void deallocate(boost::context::stack_context& sctx) noexcept;

 private:
  std::size_t usable_;
};

// fail_next_allocations: the next n allocations fail as if memory ran out (for tests).
void fail_next_allocations(std::size_t n) noexcept;

// Counters for diagnostics::snapshot().
std::size_t stacks_in_use() noexcept;
std::size_t stacks_cached() noexcept;

}  // namespace fiberpool::scheduler
