// stack_allocator: guarded stacks, per-thread caches, and the max_map_count slab fallback.
#include "scheduler/stack_allocator.hpp"

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstdint>
#include <string>
#include <system_error>
#include <cstdlib>
#include <fstream>
#include <mutex>
#include <new>
#include <optional>
#include <vector>

#include <sys/mman.h>
#include <unistd.h>

#include <spdlog/spdlog.h>

#include <fiberpool/log.hpp>

#include "base/thread_counter.hpp"
#include "scheduler/sanitizers.hpp"

namespace fiberpool::scheduler {
namespace {

// Stacks kept for reuse: a burst of short jobs frees and takes stacks by the thousand, and each
// one that misses the caches costs an mmap, an mprotect, fresh page faults and later an munmap
// (which also makes every other core flush its TLB). Only the pages a stack touched stay resident
// (typically 2-3), so the caches cost a few MiB per thousand stacks.
constexpr std::size_t cache_bound = 1024;    // per thread
constexpr std::size_t shared_bound = 512;    // shared between threads, past the per-thread bound;
                                             // what stays cached once every runtime has stopped
constexpr std::size_t batch = 128;           // stacks moved between a thread and the shared cache
constexpr std::size_t slab_stacks = 64;      // stacks per unguarded slab
constexpr long map_reserve = 5000;           // maps left for libraries, threads and malloc

base::thread_counter in_use;
std::atomic<std::size_t> injected_failures{0};
base::thread_counter cached;
std::atomic<long> guarded_live{0};

std::size_t page_size() noexcept {
  static const std::size_t p = static_cast<std::size_t>(::sysconf(_SC_PAGESIZE));
  return p;
}

// How many guarded stacks may exist at once before we switch to slabs. FIBERPOOL_MAX_GUARDED_STACKS
// lowers it (tests use it to cross the budget without creating 30,000 stacks).
long guarded_budget() noexcept {
  static const long budget = [] {
    if (const char* env = std::getenv("FIBERPOOL_MAX_GUARDED_STACKS")) return std::max(0L, std::atol(env));
    long max_maps = 65530;
    std::ifstream in("/proc/sys/vm/max_map_count");
    if (in) in >> max_maps;
    return std::max(0L, (max_maps - map_reserve) / 2);
  }();
  return budget;
}

// A stack as the allocator tracks it. Every stack has one page below its usable bytes: the guard
// page (PROT_NONE) for guarded stacks, plain padding for slab stacks. The layout is the same for
// both, so freeing a stack never has to ask which kind it is; only giving it back to the OS does.
struct stack_block {
  char* base;          // the page below the usable bytes
  std::size_t usable;
};

char* low_of(const stack_block& b) noexcept { return b.base + page_size(); }
char* top_of(const stack_block& b) noexcept { return low_of(b) + b.usable; }

// The top bytes of every stack hold its stack_header; Boost gets the stack below it. Boost places
// a fiber's context right under the stack pointer it is given, so the header of a context's stack
// is found from the context's address (stack_header_of) without any table.
constexpr std::size_t header_bytes = 64;
static_assert(sizeof(stack_header) <= header_bytes);
constexpr std::uint64_t header_magic = 0x6669626572706f6fULL;  // "fiberpoo"

stack_header& header_at(char* top) noexcept { return *reinterpret_cast<stack_header*>(top - header_bytes); }

// write_header: stamps a stack that was just mapped or carved, and tells valgrind it is a stack.
void write_header(const stack_block& b, bool from_slab) noexcept {
  stack_header& h = header_at(top_of(b));
  h.from_slab = from_slab;
  h.magic = header_magic;
  h.bottom = low_of(b);
  h.size = b.usable;
  h.fake_stack = nullptr;
  h.tsan_fiber = nullptr;
  h.owed_to = nullptr;
  h.valgrind_id = sanitizers::register_stack(low_of(b), top_of(b));
}

// Slabs: unguarded stacks carved from large maps, recycled through their own free list. Slab
// memory is never unmapped; past the bound, freed slab stacks give their pages back to the OS in
// batches (purge_batch), header page included: a slab stack whose header reads zero was purged,
// and is stamped again when it is taken.
constexpr std::size_t purge_batch = 64;

struct slab_pool {
  std::mutex mu;
  std::vector<stack_block> free;
  std::vector<stack_block> to_purge;  // freed past the bound, pages not yet given back
  std::atomic<bool> any{false};
};

slab_pool& slabs() {
  static slab_pool s;
  return s;
}

// The shared cache: where a thread's overflow goes and where an empty thread cache refills from,
// so stacks freed on one thread serve jobs started on another.
struct shared_cache {
  std::mutex mu;
  std::vector<stack_block> blocks;
};

shared_cache& shared() {
  static shared_cache s;
  return s;
}

[[noreturn]] void out_of_stacks(int err, std::size_t bytes) {
  throw std::system_error(err, std::generic_category(),
                          "fiberpool: could not map a fiber stack of " + std::to_string(bytes) +
                              " bytes (out of memory or of vm.max_map_count maps)");
}

stack_block map_guarded(std::size_t usable) {
  std::size_t total = usable + page_size();
  void* p = ::mmap(nullptr, total, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  if (p == MAP_FAILED) out_of_stacks(errno, total);
  if (::mprotect(p, page_size(), PROT_NONE) != 0) {
    int err = errno;
    ::munmap(p, total);
    out_of_stacks(err, total);
  }
  guarded_live.fetch_add(1, std::memory_order_relaxed);
  stack_block b{static_cast<char*>(p), usable};
  write_header(b, false);
  return b;
}

// take_matching: the newest stack of `usable` bytes in `blocks`, removed from it.
std::optional<stack_block> take_matching(std::vector<stack_block>& blocks, std::size_t usable) noexcept {
  for (auto it = blocks.rbegin(); it != blocks.rend(); ++it) {
    if (it->usable == usable) {
      stack_block b = *it;
      blocks.erase(std::next(it).base());
      return b;
    }
  }
  return std::nullopt;
}

// purge: gives the pages of s.to_purge back to the OS and moves the stacks to the free list. Stacks
// freed one after another are usually neighbours in a slab (jobs started in order end in order),
// so runs of adjacent slots go back in one madvise each: one TLB shootdown per run, not per stack.
void purge(slab_pool& s) noexcept {
  auto& batch = s.to_purge;
  std::sort(batch.begin(), batch.end(), [](const stack_block& a, const stack_block& b) { return a.base < b.base; });
  char* run_begin = nullptr;
  char* run_end = nullptr;
  for (const stack_block& b : batch) {
    sanitizers::deregister_stack(header_at(top_of(b)).valgrind_id);
    if (b.base != run_end) {
      if (run_begin) ::madvise(run_begin, static_cast<std::size_t>(run_end - run_begin), MADV_DONTNEED);
      run_begin = b.base;
    }
    run_end = top_of(b);
    s.free.push_back(b);
  }
  if (run_begin) ::madvise(run_begin, static_cast<std::size_t>(run_end - run_begin), MADV_DONTNEED);
  batch.clear();
}

stack_block take_from_slab(std::size_t usable) {
  auto& s = slabs();
  std::lock_guard lk(s.mu);
  std::optional<stack_block> b = take_matching(s.free, usable);
  if (!b) b = take_matching(s.to_purge, usable);
  if (b) {
    if (header_at(top_of(*b)).magic != header_magic) write_header(*b, true);  // purged
    return *b;
  }
  if (!s.any.exchange(true)) {
    SPDLOG_LOGGER_WARN(fiberpool::logger(),
                       "fiberpool: {} guarded fiber stacks reached the vm.max_map_count budget; new "
                       "stacks come from slabs without guard pages (raise vm.max_map_count to keep them)",
                       guarded_budget());
  }
  std::size_t slot = usable + page_size();
  std::size_t total = slot * slab_stacks;
  void* p = ::mmap(nullptr, total, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  if (p == MAP_FAILED) out_of_stacks(errno, total);
  char* base = static_cast<char*>(p);
  for (std::size_t i = 0; i < slab_stacks; ++i) write_header({base + i * slot, usable}, true);
  for (std::size_t i = 1; i < slab_stacks; ++i) s.free.push_back({base + i * slot, usable});
  return {base, usable};
}

// release: gives a stack no cache wants back to its slab, or to the OS.
void release(const stack_block& b) noexcept {
  // The header says which kind: no search of the slabs per stack given back (it was quadratic in
  // the stacks alive once past the guarded budget).
  if (header_at(top_of(b)).from_slab) {
    auto& s = slabs();
    std::lock_guard lk(s.mu);
    if (s.free.size() < shared_bound) {
      s.free.push_back(b);
    } else {
      s.to_purge.push_back(b);
      if (s.to_purge.size() >= purge_batch) purge(s);
    }
    return;
  }
  sanitizers::deregister_stack(header_at(top_of(b)).valgrind_id);
  ::munmap(b.base, b.usable + page_size());
  guarded_live.fetch_sub(1, std::memory_order_relaxed);
}

// The per-thread cache. Its state flag is trivially destructible so deallocate() can tell, during
// thread exit, that the cache is already gone and free the stack directly.
enum class cache_life : unsigned char { unborn, alive, dead };
[[gnu::tls_model("initial-exec")]] thread_local cache_life tl_cache_life = cache_life::unborn;

struct stack_cache {
  std::vector<stack_block> blocks;
  stack_cache() { tl_cache_life = cache_life::alive; }
  ~stack_cache() {
    tl_cache_life = cache_life::dead;
    for (auto& b : blocks) release(b);
    cached.add(-static_cast<long>(blocks.size()));
  }
};

stack_cache* this_thread_cache() noexcept {
  if (tl_cache_life == cache_life::dead) return nullptr;
  [[gnu::tls_model("initial-exec")]] static thread_local stack_cache cache;
  return &cache;
}

}  // namespace

stack_allocator::stack_allocator(std::size_t usable) noexcept
    : usable_((usable + page_size() - 1) / page_size() * page_size()) {}

boost::context::stack_context stack_allocator::allocate() {
  for (auto n = injected_failures.load(); n > 0;)
    if (injected_failures.compare_exchange_weak(n, n - 1)) out_of_stacks(ENOMEM, usable_);
  stack_block b{};
  bool found = false;
  stack_cache* c = this_thread_cache();
  auto take_local = [&] {
    auto it = std::find_if(c->blocks.rbegin(), c->blocks.rend(), [&](const stack_block& x) { return x.usable == usable_; });
    if (it == c->blocks.rend()) return false;
    b = *it;
    c->blocks.erase(std::next(it).base());
    cached.decrement();
    return true;
  };
  if (c) {
    found = take_local();
    if (!found) {
      // Refill a batch from the shared cache: one lock for many allocations.
      auto& sh = shared();
      std::lock_guard lk(sh.mu);
      for (std::size_t i = sh.blocks.size(); i-- > 0 && c->blocks.size() < batch;) {
        if (sh.blocks[i].usable != usable_) continue;
        c->blocks.push_back(sh.blocks[i]);
        sh.blocks[i] = sh.blocks.back();
        sh.blocks.pop_back();
      }
    }
    if (!found) found = take_local();
  }
  if (!found) {
    b = guarded_live.load(std::memory_order_relaxed) < guarded_budget() ? map_guarded(usable_)
                                                                         : take_from_slab(usable_);
  }
  in_use.increment();
  boost::context::stack_context sctx;
  sctx.size = b.usable - header_bytes;
  sctx.sp = top_of(b) - header_bytes;
  return sctx;
}

void stack_allocator::deallocate(boost::context::stack_context& sctx) noexcept {
  char* top = static_cast<char*>(sctx.sp) + header_bytes;
  stack_block b{top - sctx.size - header_bytes - page_size(), sctx.size + header_bytes};
  sanitizers::stack_freed(&header_at(top));
  // The dead fiber's last frames never returned: clear what ASan poisoned in them before reuse.
  sanitizers::unpoison(low_of(b), sctx.size);
  header_at(top).fake_stack = nullptr;
  in_use.decrement();
  stack_cache* c = this_thread_cache();
  if (!c) return release(b);
  if (c->blocks.size() >= cache_bound) {
    // Move a batch to the shared cache (or, past its bound, to the OS) in one lock.
    std::vector<stack_block> spill(c->blocks.end() - batch, c->blocks.end());
    c->blocks.resize(c->blocks.size() - batch);
    cached.add(-static_cast<long>(batch));
    auto& sh = shared();
    std::unique_lock lk(sh.mu);
    std::size_t room = shared_bound > sh.blocks.size() ? shared_bound - sh.blocks.size() : 0;
    std::size_t kept = std::min(room, spill.size());
    sh.blocks.insert(sh.blocks.end(), spill.begin(), spill.begin() + static_cast<std::ptrdiff_t>(kept));
    cached.add(static_cast<long>(kept));
    lk.unlock();
    for (std::size_t i = kept; i < spill.size(); ++i) release(spill[i]);
  }
  c->blocks.push_back(b);
  cached.increment();
}

void fail_next_allocations(std::size_t n) noexcept { injected_failures.store(n); }

// Not instrumented: ASan must not check this read, the one place we look at a page we did not
// map ourselves before knowing it is ours (the magic tells).
[[gnu::no_sanitize_address]] stack_header* stack_header_of(const void* ctx) noexcept {
  // The context sits within the top page of its stack (its size plus Boost's 256-byte alignment
  // is far below a page), and tops are page-aligned: the top is the next page boundary above it.
  auto addr = reinterpret_cast<std::uintptr_t>(ctx);
  auto top = reinterpret_cast<char*>((addr / page_size() + 1) * page_size());
  stack_header& h = header_at(top);
  if (reinterpret_cast<std::uintptr_t>(&h) <= addr) return nullptr;  // not below our header
  return h.magic == header_magic ? &h : nullptr;
}

std::size_t stacks_in_use() noexcept { return in_use.read(); }
std::size_t stacks_cached() noexcept { return cached.read(); }

}  // namespace fiberpool::scheduler
