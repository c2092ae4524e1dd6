// stacks: issue 11's stack scenario. 200,000 no-op jobs applied from a plain thread into a pool of
// limit 2,000 on 2 threads: the most stacks in use at once (sampled every 100 us from another
// thread), and the stacks still cached once the pool is gone.
#include <algorithm>
#include <atomic>
#include <chrono>
#include <thread>

#include <fiberpool/fiberpool.hpp>

#include "bench_util.hpp"

int main(int argc, char** argv) {
  const std::size_t total = bench::arg(argc, argv, 1, 200'000);
  std::atomic<bool> done{false};
  std::size_t peak = 0;
  std::thread sampler([&] {
    while (!done.load()) {
      peak = std::max(peak, fiberpool::diagnostics::snapshot().stacks_in_use);
      std::this_thread::sleep_for(std::chrono::microseconds(100));
    }
  });
  {
    fiberpool::pool_options opts;
    opts.limit = 2000;
    opts.threads = 2;
    fiberpool::task_pool pool(opts);
    pool.start();
    for (std::size_t i = 0; i < total; ++i) pool.apply([] {});
    pool.waitall();
    pool.stop();
  }
  done.store(true);
  sampler.join();
  bench::metric("stacks.peak_in_use", static_cast<double>(peak));
  bench::metric("stacks.cached_after", static_cast<double>(fiberpool::diagnostics::snapshot().stacks_cached));
}
