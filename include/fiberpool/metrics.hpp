// metrics: counters and latency histograms of pools and runtimes, a Prometheus exposition of every
// live one, and a dump of every live job (Go's goroutine dump for fiberpool).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include <fiberpool/types.hpp>

namespace fiberpool {

// histogram: Prometheus semantics. upper_bounds[i] in seconds, ascending, the last one +Inf;
// counts[i] is how many observations were <= upper_bounds[i] (cumulative, so counts.back() ==
// count); sum in seconds. Buckets are powers of two from 1 us to 2^25 us (33.6 s).
struct histogram {
  std::vector<double> upper_bounds;
  std::vector<std::uint64_t> counts;
  double sum = 0;
  std::uint64_t count = 0;
};

// pool_stats: a pool's counters since it was made (monotonic, never reset: restart() keeps them)
// and its latency histograms.
struct pool_stats {
  pool_info info;               // counts by end state, running, waiting, limit...
  std::uint64_t applied = 0;    // jobs apply() accepted (map items included)
  std::uint64_t started = 0;    // of those, jobs that got a slot (inline runs included)
  std::uint64_t inline_runs = 0;  // jobs run on their parent's fiber (a job applying into its own full pool)
  std::uint64_t rejected = 0;   // apply() calls refused: pool full (overflow::reject), closed or locked
  histogram queue_wait_seconds;  // apply -> start: the time spent in the pool's queue waiting for a
                                 // slot (0 for a job that found a free slot at once), one per start
  histogram run_seconds;         // start -> end, one per started job that ended
};

// runtime_stats: one runtime's scheduler, now and since it was made.
struct runtime_stats {
  std::size_t threads = 0;         // scheduler threads serving (1 for a hosted runtime)
  std::size_t fibers = 0;          // fibers alive in the process (carriers, hubs, feeders)
  std::size_t stacks_in_use = 0;   // fiber stacks handed out, process-wide
  std::size_t stacks_cached = 0;   // stacks kept for reuse, process-wide
  std::size_t ready = 0;           // fibers ready to run on this runtime's threads now
  std::uint64_t switches = 0;      // job fibers resumed by this runtime's threads
  std::uint64_t steals = 0;        // ready fibers a thread took from another thread's queue
  std::uint64_t wakeups = 0;       // times an idle thread woke from epoll_wait
  histogram lag_seconds;           // how late the runtime's timers fired (scheduler lag)
};

// prometheus_text: every live runtime and pool of the process in the Prometheus text exposition
// format (version 0.0.4): metric names start with fiberpool_, pools are labelled pool="<name>",
// runtimes runtime="<name>". Passes promtool check metrics.
std::string prometheus_text();

// dump_jobs: every live job of every live pool, one block per job: id, name, group, pool, state,
// thread, age, and where it waits (what, since when, until when), stalled jobs marked. Like Go's
// goroutine dump; for logs and for the control socket's `dump`.
std::string dump_jobs();

}  // namespace fiberpool
