// log_histogram: adding a shard into a snapshot.
#include "base/log_histogram.hpp"

#include <limits>

namespace fiberpool::base {

fiberpool::histogram to_histogram(const histogram_counts& c) {
  fiberpool::histogram h;
  h.upper_bounds.reserve(histogram_buckets);
  h.counts.reserve(histogram_buckets);
  std::uint64_t below = 0;
  for (std::size_t i = 0; i < histogram_buckets; ++i) {
    const bool last = i + 1 == histogram_buckets;
    h.upper_bounds.push_back(last ? std::numeric_limits<double>::infinity()
                                  : static_cast<double>(bucket_bound_ns(i)) * 1e-9);
    below += c.buckets[i];
    h.counts.push_back(below);
  }
  // Shards are read one after another while their threads count on: the total is the buckets'
  // sum, so the +Inf bucket always equals `count`, as Prometheus requires.
  h.count = below;
  h.sum = static_cast<double>(c.sum_ns) * 1e-9;
  return h;
}

void histogram_shard::add_to(histogram_counts& out) const noexcept {
  for (std::size_t i = 0; i < histogram_buckets; ++i) out.buckets[i] += buckets[i].load(std::memory_order_relaxed);
  out.sum_ns += sum_ns.load(std::memory_order_relaxed);
  out.count += count.load(std::memory_order_relaxed);
}

}  // namespace fiberpool::base
