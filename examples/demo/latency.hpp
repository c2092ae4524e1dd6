// latency_histogram: round-trip times from every client job, for the p50/p99 in the results.
#pragma once

#include <array>
#include <atomic>
#include <bit>
#include <cstddef>
#include <cstdint>

#include <fiberpool/types.hpp>

namespace demo {

// Log-linear buckets (32 per power of two, so a percentile is within about 3% of the true value),
// counted with relaxed atomics: thousands of client jobs on several threads record into one
// histogram without a lock, and a sample costs one add.
class latency_histogram {
 public:
  // record: one round trip.
  void record(fiberpool::clock::duration d) noexcept;
  // count: round trips recorded so far.
  std::uint64_t count() const noexcept;
  // percentile: p in [0, 100], in microseconds (the upper edge of the bucket it falls in); 0 when
  // nothing was recorded.
  double percentile_us(double p) const noexcept;

 private:
  static constexpr int sub_bits = 5;                     // 32 buckets per power of two
  static constexpr int octaves = 64 - sub_bits;          // enough for any uint64 of nanoseconds
  static constexpr std::size_t bucket_count = std::size_t{octaves + 1} << sub_bits;
  static std::size_t bucket_of(std::uint64_t ns) noexcept;
  static std::uint64_t upper_edge(std::size_t bucket) noexcept;

  std::array<std::atomic<std::uint64_t>, bucket_count> buckets_{};
};

}  // namespace demo
