// thread_slot: a small number that names the calling thread among the live threads of the process.
#pragma once

#include <cstddef>

namespace fiberpool::base {

// Per-thread shards of a statistic (log_histogram.hpp) are indexed by it: one writer per shard,
// so a plain load and store count, no locked instruction. A slot is taken on a thread's first
// call and given back when the thread exits, to be reused by a later thread (whose first call
// happens after the exit: the registry's lock orders the two threads' writes to a shard).
inline constexpr std::size_t max_thread_slots = 256;
inline constexpr std::size_t no_thread_slot = max_thread_slots;

// The slot + 1 once taken (0: not yet; past max_thread_slots: none to be had). Read inline: a
// shard is looked up at every job's end.
[[gnu::tls_model("initial-exec")]] extern constinit thread_local std::size_t tl_slot_plus_one;
std::size_t take_thread_slot() noexcept;  // the first call on a thread

// thread_slot: the calling thread's slot, or no_thread_slot when all are taken or the thread is
// past its thread-local destructors; callers then fall back to a shared, locked shard.
inline std::size_t thread_slot() noexcept {
  const std::size_t v = tl_slot_plus_one;
  if (v - 1 < max_thread_slots) [[likely]] return v - 1;
  return take_thread_slot();
}

}  // namespace fiberpool::base
