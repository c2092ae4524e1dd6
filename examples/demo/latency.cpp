// latency_histogram: log-linear buckets of nanoseconds.
#include "latency.hpp"

#include <algorithm>
#include <chrono>
#include <cmath>

namespace demo {

// Values below 2^sub_bits ns get a bucket each; above, a bucket is (octave, top sub_bits bits
// after the leading one).
std::size_t latency_histogram::bucket_of(std::uint64_t ns) noexcept {
  if (ns < (std::uint64_t{1} << sub_bits)) return static_cast<std::size_t>(ns);
  int octave = std::bit_width(ns) - 1 - sub_bits + 1;  // 1 for [32, 64), 2 for [64, 128), ...
  auto mantissa = static_cast<std::size_t>((ns >> (octave - 1)) & ((std::uint64_t{1} << sub_bits) - 1));
  return (static_cast<std::size_t>(octave) << sub_bits) + mantissa;
}

std::uint64_t latency_histogram::upper_edge(std::size_t bucket) noexcept {
  std::size_t octave = bucket >> sub_bits;
  std::uint64_t mantissa = bucket & ((std::size_t{1} << sub_bits) - 1);
  if (octave == 0) return mantissa + 1;
  std::uint64_t low = ((std::uint64_t{1} << sub_bits) | mantissa) << (octave - 1);
  return low + (std::uint64_t{1} << (octave - 1));
}

void latency_histogram::record(fiberpool::clock::duration d) noexcept {
  auto ns = static_cast<std::uint64_t>(std::max<std::int64_t>(
      std::chrono::duration_cast<std::chrono::nanoseconds>(d).count(), 0));
  buckets_[bucket_of(ns)].fetch_add(1, std::memory_order_relaxed);
}

std::uint64_t latency_histogram::count() const noexcept {
  std::uint64_t n = 0;
  for (const auto& b : buckets_) n += b.load(std::memory_order_relaxed);
  return n;
}

double latency_histogram::percentile_us(double p) const noexcept {
  std::uint64_t total = count();
  if (total == 0) return 0;
  // The rank of the sample at p, counting from 1: p99 of 1,000 samples is the 990th.
  auto rank = static_cast<std::uint64_t>(std::ceil(std::clamp(p, 0.0, 100.0) / 100.0 * static_cast<double>(total)));
  rank = std::max<std::uint64_t>(rank, 1);
  std::uint64_t seen = 0;
  for (std::size_t i = 0; i < bucket_count; ++i) {
    seen += buckets_[i].load(std::memory_order_relaxed);
    if (seen >= rank) return static_cast<double>(upper_edge(i)) / 1000.0;
  }
  return static_cast<double>(upper_edge(bucket_count - 1)) / 1000.0;
}

}  // namespace demo
