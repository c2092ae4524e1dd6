// block_cache: a singly linked free list per size class, in a thread_local.
#include "base/block_cache.hpp"

#include <array>
#include <new>

#include "scheduler/sanitizers.hpp"  // FIBERPOOL_ASAN

#if defined(FIBERPOOL_VALGRIND)
#include <valgrind/valgrind.h>
#endif

namespace fiberpool::base::block_cache {
namespace {

#if defined(FIBERPOOL_ASAN)
constexpr bool enabled = false;
#else
constexpr bool enabled = true;
#endif

// under_valgrind: asked once per thread (a build with valgrind's header runs natively too).
bool under_valgrind() noexcept {
#if defined(FIBERPOOL_VALGRIND)
  return RUNNING_ON_VALGRIND != 0;
#else
  return false;
#endif
}

constexpr std::size_t classes = max_size / granularity;

struct free_block {
  free_block* next;
};

// Trivially constructed and destructible, in the static TLS block (initial-exec: no
// __tls_get_addr call per job from this shared library). `life` says whether the thread's reaper
// is registered yet, or has already run: a block freed after that (by another thread_local's
// destructor) goes straight back to the system, as every block does under valgrind (`bypass`).
enum class life : unsigned char { unborn, alive, dead, bypass };
struct lists {
  std::array<free_block*, classes> head;
  std::array<std::size_t, classes> count;
  life state;
};
[[gnu::tls_model("initial-exec")]] thread_local lists tl_lists{};

// reaper: its thread_local instance frees the thread's blocks when the thread exits.
struct reaper {
  reaper() noexcept { tl_lists.state = life::alive; }
  ~reaper() {
    tl_lists.state = life::dead;
    for (std::size_t c = 0; c < classes; ++c) {
      while (free_block* b = tl_lists.head[c]) {
        tl_lists.head[c] = b->next;
        ::operator delete(b, (c + 1) * granularity);
      }
      tl_lists.count[c] = 0;
    }
  }
};

lists* here() noexcept {
  if (tl_lists.state == life::alive) [[likely]] return &tl_lists;
  if (tl_lists.state != life::unborn) return nullptr;
  if (under_valgrind()) {
    tl_lists.state = life::bypass;
    return nullptr;
  }
  thread_local reaper r;  // registers the thread-exit destructor once
  return &tl_lists;
}

std::size_t class_of(std::size_t size) noexcept { return (size + granularity - 1) / granularity - 1; }

}  // namespace

void* allocate(std::size_t size) {
  if (!enabled || size == 0 || size > max_size) return ::operator new(size);
  const std::size_t c = class_of(size);
  if (lists* l = here(); l && l->head[c]) {
    free_block* b = l->head[c];
    l->head[c] = b->next;
    --l->count[c];
    return b;
  }
  // The block's full class size, so that any size of the class can reuse it.
  return ::operator new((c + 1) * granularity);
}

void deallocate(void* p, std::size_t size) noexcept {
  if (!p) return;
  if (!enabled || size == 0 || size > max_size) {
    ::operator delete(p, size);
    return;
  }
  const std::size_t c = class_of(size);
  lists* l = here();
  if (!l || l->count[c] >= max_blocks) {
    ::operator delete(p, (c + 1) * granularity);
    return;
  }
  auto* b = static_cast<free_block*>(p);
  b->next = l->head[c];
  l->head[c] = b;
  ++l->count[c];
}

std::size_t cached_blocks() noexcept {
  lists* l = here();
  if (!l) return 0;
  std::size_t n = 0;
  for (std::size_t c : l->count) n += c;
  return n;
}

}  // namespace fiberpool::base::block_cache
