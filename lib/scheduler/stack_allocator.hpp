// stack_allocator: the Boost.Context StackAllocator fiberpool gives every fiber it creates.
#pragma once

#include <cstddef>
#include <cstdint>

#include <boost/context/stack_context.hpp>

namespace fiberpool::scheduler {

class ready_queue;

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

// What the sanitizers and the scheduler need to know about a stack and the fiber on it; kept in its
// top 64 bytes, above what Boost gets.
struct stack_header {
  std::uint64_t magic;
  char* bottom;            // lowest usable byte
  std::size_t size;        // bytes from bottom to the stack's top (the header included)
  void* fake_stack;        // ASan's fake stack of the fiber while it is switched out
  unsigned valgrind_id;    // from VALGRIND_STACK_REGISTER
  bool from_slab;          // carved from a slab (no guard page), not mapped on its own
  void* tsan_fiber;        // TSan's state for the fiber on this stack, made at its first switch
  ready_queue* owed_to;    // the queue whose thread the fiber left and may not exit yet (algorithm.hpp)
};

// stack_header_of: the header of the stack a Boost context lives on, or null when the context is
// not on a stack of ours (a main or dispatcher context, a fiber made with another allocator).
// The context's first page must be readable: true of every context Boost hands the scheduler.
stack_header* stack_header_of(const void* ctx) noexcept;

// Counters for diagnostics::snapshot().
std::size_t stacks_in_use() noexcept;
std::size_t stacks_cached() noexcept;

}  // namespace fiberpool::scheduler
