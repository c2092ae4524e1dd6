// scaling: fan-out of `jobs` jobs of ~5 us of computation each; ms with 1 and 2 threads, and the
// speed-up 1 -> 2 threads (x100, as metrics are printed with one decimal).
#include <cstdint>
#include <string>
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

double run(std::size_t threads, std::size_t jobs, std::uint64_t iters) {
  fiberpool::pool_options opts;
  // The pool default: jobs past it queue as records (under 200 bytes) and start as slots free up,
  // on the thread that freed the slot. A limit of 200,000 would make as many fibers and stacks at
  // once, and measure mmap and TLB shootdowns instead of how the computation spreads.
  opts.limit = 1000;
  opts.threads = threads;
  fiberpool::task_pool pool(opts);
  pool.start();
  auto t0 = bench::clock::now();
  // Applied from a job, so the jobs start on the runtime's threads and the others steal them.
  pool.apply([&] {
        std::vector<fiberpool::job<std::uint64_t>> all;
        all.reserve(jobs);
        for (std::size_t i = 0; i < jobs; ++i) all.push_back(pool.apply([iters] { return work(iters); }));
        for (auto& j : all) j.wait();
      })
      .get();
  double ns = bench::ns_since(t0);
  pool.stop();
  return ns / 1e6;
}

}  // namespace

int main(int argc, char** argv) {
  std::size_t jobs = bench::arg(argc, argv, 1, 20'000);
  std::uint64_t iters = calibrate();
  double t1 = run(1, jobs, iters);
  double t2 = run(2, jobs, iters);
  bench::metric("scaling.t1.ms", t1);
  bench::metric("scaling.t2.ms", t2);
  bench::metric("scaling.speedup_x100", t1 / t2 * 100.0);
}
