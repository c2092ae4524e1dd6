// log_histogram: a latency histogram with power-of-two buckets, counted in per-thread shards.
#pragma once

#include <array>
#include <atomic>
#include <bit>
#include <cstdint>
#include <memory>

#include <fiberpool/detail/spin_mutex.hpp>
#include <fiberpool/metrics.hpp>

#include "base/thread_slot.hpp"

namespace fiberpool::base {

// Buckets of spans up to 1 us, 2 us, 4 us ... 2^25 us (33.6 s), then everything longer: the
// resolution Prometheus users expect of a latency histogram, at 27 counters per shard.
inline constexpr std::size_t histogram_buckets = 27;
inline constexpr std::uint64_t first_bucket_ns = 1000;

// bucket_of: the index of the first bucket whose upper bound is at least `ns`.
constexpr std::size_t bucket_of(std::uint64_t ns) noexcept {
  if (ns <= first_bucket_ns) return 0;
  const auto b = static_cast<std::size_t>(std::bit_width((ns - 1) / first_bucket_ns));
  return b < histogram_buckets - 1 ? b : histogram_buckets - 1;
}
// bucket_bound_ns: the upper bound of bucket i (the last bucket has none: +Inf).
constexpr std::uint64_t bucket_bound_ns(std::size_t i) noexcept { return first_bucket_ns << i; }

// histogram_counts: what a snapshot of a histogram holds: per-bucket counts (not cumulative),
// the sum of the spans and their number.
struct histogram_counts {
  std::array<std::uint64_t, histogram_buckets> buckets{};
  std::uint64_t sum_ns = 0;
  std::uint64_t count = 0;
};

// to_histogram: a snapshot in the public form (seconds, cumulative counts, +Inf last).
fiberpool::histogram to_histogram(const histogram_counts& c);

// histogram_shard: one writer's counts. Only that writer changes them, with a relaxed load and
// store (atomic only so readers on other threads may look); readers add shards up.
struct histogram_shard {
  std::array<std::atomic<std::uint64_t>, histogram_buckets> buckets{};
  std::atomic<std::uint64_t> sum_ns{0};
  std::atomic<std::uint64_t> count{0};

  void record(std::uint64_t ns) noexcept {
    bump(buckets[bucket_of(ns)], 1);
    bump(sum_ns, ns);
    bump(count, 1);
  }
  void add_to(histogram_counts& out) const noexcept;

 private:
  static void bump(std::atomic<std::uint64_t>& x, std::uint64_t by) noexcept {
    x.store(x.load(std::memory_order_relaxed) + by, std::memory_order_relaxed);
  }
};

// sharded_histograms: N histograms (a pool's queue wait and run time), sharded by thread_slot().
// A thread's shard is made on its first record (one allocation per thread and owner, ever);
// recording is then two loads to find it and three load-store pairs, on a line no other thread
// writes. Threads without a slot (or out of memory for a shard) share one shard under a lock.
template <std::size_t N>
class sharded_histograms {
 public:
  sharded_histograms() = default;
  sharded_histograms(const sharded_histograms&) = delete;
  sharded_histograms& operator=(const sharded_histograms&) = delete;
  ~sharded_histograms() {
    for (auto& s : shards_) delete s.load(std::memory_order_acquire);
  }

  void record(std::size_t which, std::uint64_t ns) noexcept {
    const std::size_t slot = thread_slot();
    if (slot < max_thread_slots) [[likely]] {
      shard* s = shards_[slot].load(std::memory_order_acquire);
      if (!s) [[unlikely]] s = make_shard(slot);
      if (s) [[likely]] {
        s->h[which].record(ns);
        return;
      }
    }
    std::lock_guard lk(shared_mu_);
    shared_.h[which].record(ns);
  }

  histogram_counts read(std::size_t which) const noexcept {
    histogram_counts out;
    for (auto& s : shards_)
      if (shard* p = s.load(std::memory_order_acquire)) p->h[which].add_to(out);
    std::lock_guard lk(shared_mu_);
    shared_.h[which].add_to(out);
    return out;
  }

 private:
  struct alignas(64) shard {
    std::array<histogram_shard, N> h;
  };

  [[gnu::noinline]] shard* make_shard(std::size_t slot) noexcept {
    // Only this thread installs into its slot while it holds it; a shard left by an exited
    // thread with the same slot is found above and reused, its counts kept.
    shard* s = new (std::nothrow) shard;
    if (s) shards_[slot].store(s, std::memory_order_release);
    return s;
  }

  std::array<std::atomic<shard*>, max_thread_slots> shards_{};
  mutable detail::spin_mutex shared_mu_;
  shard shared_;
};

}  // namespace fiberpool::base
