// pool_stats: task_pool::stats(): admission's counters (kept under the pool's lock) and the
// queue-wait and run-time histograms (kept per thread, read without stopping anyone).
#include "pool/pool_core.hpp"

namespace fiberpool::detail {

pool_stats pool_core::stats() const {
  pool_stats s;
  s.info = info();
  {
    std::lock_guard lk(mu_);
    s.applied = applied_;
    s.started = started_count_;
    s.inline_runs = inline_runs_;
    s.rejected = rejected_;
  }
  s.queue_wait_seconds = base::to_histogram(timings_.read(queue_wait));
  s.run_seconds = base::to_histogram(timings_.read(run_time));
  return s;
}

}  // namespace fiberpool::detail
