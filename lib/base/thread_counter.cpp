// thread_counter: per-thread shards, summed on read; a thread's shard is folded in when it exits.
#include "base/thread_counter.hpp"

#include <array>
#include <atomic>
#include <cstdlib>
#include <mutex>

namespace fiberpool::base {
namespace {

using values = std::array<std::atomic<long>, thread_counter::max_counters>;

struct shard;

// Every live shard, plus what exited threads left behind. Leaked on purpose: counters change
// during static destruction and thread exit too.
struct registry {
  std::mutex mu;
  shard* head = nullptr;
  values retired{};
  std::atomic<std::size_t> counters{0};
};

registry& reg() noexcept {
  static registry* r = new registry;
  return *r;
}

struct shard {
  values v{};
  shard* next = nullptr;
  shard* prev = nullptr;

  shard() noexcept;
  ~shard();
};

// A trivially destructible flag, so that changes made after the thread's shard is gone (thread-
// local destructors that free stacks) go straight to the retired values.
enum class shard_life : unsigned char { unborn, alive, dead };
[[gnu::tls_model("initial-exec")]] thread_local shard_life tl_life = shard_life::unborn;
// The thread's shard once made: one load on the counting path, where the function-local
// thread_local in make_thread_shard() costs a guard test and a call through its TLS wrapper.
[[gnu::tls_model("initial-exec")]] constinit thread_local shard* tl_shard = nullptr;

shard::shard() noexcept {
  auto& r = reg();
  std::lock_guard lk(r.mu);
  next = r.head;
  if (next) next->prev = this;
  r.head = this;
  tl_life = shard_life::alive;
  tl_shard = this;
}

shard::~shard() {
  auto& r = reg();
  std::lock_guard lk(r.mu);
  for (std::size_t i = 0; i < v.size(); ++i)
    r.retired[i].fetch_add(v[i].load(std::memory_order_relaxed), std::memory_order_relaxed);
  if (prev) prev->next = next;
  else r.head = next;
  if (next) next->prev = prev;
  tl_life = shard_life::dead;
  tl_shard = nullptr;
}

[[gnu::noinline]] shard* make_thread_shard() noexcept {
  if (tl_life == shard_life::dead) return nullptr;
  [[gnu::tls_model("initial-exec")]] static thread_local shard s;
  return &s;
}

shard* this_thread_shard() noexcept {
  if (shard* s = tl_shard) return s;
  return make_thread_shard();
}

}  // namespace

thread_counter::thread_counter() noexcept : slot_(reg().counters.fetch_add(1)) {
  if (slot_ >= max_counters) std::abort();  // a programming error: raise max_counters
}

void thread_counter::add(long delta) noexcept {
  if (shard* s = this_thread_shard()) {
    auto& x = s->v[slot_];
    x.store(x.load(std::memory_order_relaxed) + delta, std::memory_order_relaxed);
    return;
  }
  auto& r = reg();
  std::lock_guard lk(r.mu);
  r.retired[slot_].fetch_add(delta, std::memory_order_relaxed);
}

std::size_t thread_counter::read() const noexcept {
  auto& r = reg();
  std::lock_guard lk(r.mu);
  long sum = r.retired[slot_].load(std::memory_order_relaxed);
  for (shard* s = r.head; s; s = s->next) sum += s->v[slot_].load(std::memory_order_relaxed);
  return sum > 0 ? static_cast<std::size_t>(sum) : 0;
}

}  // namespace fiberpool::base
