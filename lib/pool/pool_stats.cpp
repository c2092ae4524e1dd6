// pool_stats: task_pool::stats(): admission's counters (kept under the pool's lock) and the
// queue-wait and run-time histograms (kept per thread, read without stopping anyone).
#include "pool/pool_core.hpp"

namespace fiberpool::detail {

pool_stats pool_core::stats() const {
  pool_stats s;
  s.info = info();
  std::uint64_t queued_starts;
  {
    std::lock_guard lk(mu_);
    s.applied = applied_;
    s.started = started_count_;
    s.inline_runs = inline_runs_;
    s.rejected = rejected_;
    queued_starts = queued_starts_;
  }
  // A job that found a free slot waited 0: counted here, in the first bucket, rather than
  // recorded one by one on the hot path. Those that queued are timed at their start.
  base::histogram_counts waits = timings_.read(queue_wait);
  const std::uint64_t at_once = s.started - queued_starts;
  waits.buckets[0] += at_once;
  waits.count += at_once;
  s.queue_wait_seconds = base::to_histogram(waits);
  s.run_seconds = base::to_histogram(timings_.read(run_time));
  return s;
}

}  // namespace fiberpool::detail
