// spawn: apply() no-op jobs in batches of 1,000, wait for each batch; ns per job, 1 and 2 threads.
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <vector>

#include <fiberpool/fiberpool.hpp>

namespace {

using namespace std::chrono;

// run: `total` jobs applied from a job of the pool (fibers are created on the runtime's own
// threads, as in a server); returns ns per job.
double run(std::size_t threads, std::size_t total) {
  fiberpool::pool_options opts;
  opts.limit = 100'000;
  opts.threads = threads;
  fiberpool::task_pool pool(opts);
  pool.start();
  auto t0 = steady_clock::now();
  pool.apply([&] {
        std::vector<fiberpool::job<void>> batch;
        batch.reserve(1000);
        for (std::size_t done = 0; done < total; done += 1000) {
          for (int i = 0; i < 1000; ++i) batch.push_back(pool.apply([] {}));
          for (auto& j : batch) j.wait();
          batch.clear();
        }
      })
      .get();
  auto ns = duration<double, std::nano>(steady_clock::now() - t0).count();
  pool.stop();
  return ns / static_cast<double>(total);
}

}  // namespace

int main(int argc, char** argv) {
  std::size_t total = argc > 1 ? std::strtoull(argv[1], nullptr, 10) : 1'000'000;
  std::printf("%-10s %8s %12s\n", "workload", "threads", "ns/job");
  for (std::size_t threads : {1, 2}) std::printf("%-10s %8zu %12.1f\n", "spawn", threads, run(threads, total));
}
