// block_cache: per-thread free lists of small memory blocks, for objects made and freed per job.
#pragma once

#include <cstddef>

namespace fiberpool::base {

// A job record is allocated by apply() and freed by whoever drops it last, once per job. glibc's
// own per-thread cache holds 7 blocks of a size, so a burst of a thousand jobs goes through
// malloc's shared bins: 15% of a no-op job on one thread (perf, bench/spawn). These lists keep up
// to `max_blocks` blocks of each 64-byte size class up to `max_size` on the thread that frees them
// and hand them to the next allocation there; a thread's lists are freed when it exits.
//
// Under ASan and valgrind every block goes straight to the system allocator, so a use after free
// of a record is still caught.
namespace block_cache {

constexpr std::size_t granularity = 64;
constexpr std::size_t max_size = 512;   // larger blocks are never cached
constexpr std::size_t max_blocks = 1024;  // per size class and thread: at most 576 KiB a thread

void* allocate(std::size_t size);
void deallocate(void* p, std::size_t size) noexcept;

// cached_blocks: the blocks the calling thread holds, for tests.
std::size_t cached_blocks() noexcept;

}  // namespace block_cache
}  // namespace fiberpool::base
