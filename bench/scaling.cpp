// scaling: a fan-out of `jobs` jobs of ~5 us of computation each, run with 1 and 2 scheduler
// threads; ms for each and the speed-up 1 -> 2 threads (x100, as metrics are printed with one
// decimal).
//
// Two shapes of the same fan-out:
// - scaling.*: the fan-out runs on a fiber of the pool's runtime that is not one of the pool's
//   jobs. Jobs past the limit queue and start as slots free up, on the thread that freed the slot,
//   so both thread counts run every job on a fiber of its own: the same work, spread or not.
// - scaling_inline.*: the fan-out is itself a job of the pool. Past the limit, eventlet's rule runs
//   each further child inline on the applying job's fiber. With one thread that is nearly every
//   job, and no fiber is made for it; with two, the second thread takes started fibers as fast as
//   the first makes them, so about half the jobs pay for a fiber. The two runs do different work,
//   so this shape is reported beside the first, not held to its target.
//
// - scaling_floor.*: no fibers at all: plain threads take the same jobs from a shared counter.
//   What the machine itself gives from a second thread.
//
// t1 and t2 are measured in alternating pairs and the medians are printed: on a VM the speed of a
// core drifts by tens of percent over seconds, and a pair measured back to back sees the same
// machine.
#include <algorithm>
#include <atomic>
#include <cstdint>
#include <future>
#include <string>
#include <thread>
#include <vector>

#include <fiberpool/fiberpool.hpp>

#include "bench_util.hpp"

namespace {

// work: a dependent integer chain the compiler cannot fold; `iters` is calibrated to ~5 us.
std::uint64_t work(std::uint64_t iters) {
  std::uint64_t x = 88172645463325252ull;
  for (std::uint64_t i = 0; i < iters; ++i) {
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
  }
  return x;
}

std::uint64_t calibrate() {
  std::uint64_t iters = 1000;
  for (;;) {
    auto t0 = bench::clock::now();
    volatile std::uint64_t sink = work(iters);
    (void)sink;
    double ns = bench::ns_since(t0);
    if (ns > 1e6) return static_cast<std::uint64_t>(static_cast<double>(iters) * 5000.0 / ns);
    iters *= 2;
  }
}

enum class shape { from_runtime, from_job, plain_threads };

// plain_threads: the floor: `threads` std::threads run the jobs, taking them from a counter.
double run_plain(std::size_t threads, std::size_t jobs, std::uint64_t iters) {
  std::atomic<std::size_t> next{0};
  std::atomic<std::uint64_t> sink{0};
  auto t0 = bench::clock::now();
  std::vector<std::thread> pool;
  for (std::size_t t = 0; t < threads; ++t)
    pool.emplace_back([&] {
      std::uint64_t sum = 0;
      while (next.fetch_add(1, std::memory_order_relaxed) < jobs) sum += work(iters);
      sink += sum;
    });
  for (auto& t : pool) t.join();
  return bench::ns_since(t0) / 1e6;
}

// fan_out: applies every job, then waits for each.
void fan_out(fiberpool::task_pool& pool, std::size_t jobs, std::uint64_t iters) {
  std::vector<fiberpool::job<std::uint64_t>> all;
  all.reserve(jobs);
  for (std::size_t i = 0; i < jobs; ++i) all.push_back(pool.apply([iters] { return work(iters); }));
  for (auto& j : all) j.wait();
}

double run(shape s, std::size_t threads, std::size_t jobs, std::uint64_t iters) {
  if (s == shape::plain_threads) return run_plain(threads, jobs, iters);
  fiberpool::runtime_options ro;
  ro.threads = threads;
  fiberpool::runtime rt(ro);
  fiberpool::pool_options opts;
  // The pool default: jobs past it queue as records (under 200 bytes) and start as slots free up.
  // A limit of 200,000 would make as many fibers and stacks at once, and measure mmap and TLB
  // shootdowns instead of how the computation spreads.
  opts.limit = 1000;
  fiberpool::task_pool pool(rt, opts);
  pool.start();
  auto t0 = bench::clock::now();
  if (s == shape::from_job) {
    pool.apply([&] { fan_out(pool, jobs, iters); }).get();
  } else {
    // On one of the runtime's fibers, like the job above, so the jobs start on the runtime's
    // threads; a foreign thread applying would be a third thread competing for two cores.
    std::promise<void> done;
    rt.post([&] {
      fan_out(pool, jobs, iters);
      done.set_value();
    });
    done.get_future().wait();
  }
  double ns = bench::ns_since(t0);
  pool.stop();
  return ns / 1e6;
}

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

void measure(shape s, const std::string& prefix, std::size_t jobs, std::uint64_t iters, int pairs) {
  std::vector<double> t1, t2, speedup;
  for (int p = 0; p < pairs; ++p) {
    t1.push_back(run(s, 1, jobs, iters));
    t2.push_back(run(s, 2, jobs, iters));
    speedup.push_back(t1.back() / t2.back() * 100.0);
  }
  bench::metric(prefix + ".t1.ms", median(t1));
  bench::metric(prefix + ".t2.ms", median(t2));
  bench::metric(prefix + ".speedup_x100", median(speedup));
}

}  // namespace

int main(int argc, char** argv) {
  std::size_t jobs = bench::arg(argc, argv, 1, 20'000);
  int pairs = static_cast<int>(bench::arg(argc, argv, 2, 3));
  std::uint64_t iters = calibrate();
  measure(shape::from_runtime, "scaling", jobs, iters, pairs);
  measure(shape::from_job, "scaling_inline", jobs, iters, pairs);
  measure(shape::plain_threads, "scaling_floor", jobs, iters, pairs);
}
