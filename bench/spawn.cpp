// spawn: apply() no-op jobs in batches of 1,000, wait for each batch; ns per job, 1 and 2 threads,
// from a job of the pool (spawn.*) and from a plain thread (spawn_foreign.*).
#include <string>
#include <vector>

#include <fiberpool/fiberpool.hpp>

#include "bench_util.hpp"

namespace {

// run: `total` jobs applied from a job of the pool (fibers are created on the runtime's own
// threads, as in a server, and as the Go and Boost.Fiber peers do from a goroutine / fiber).
double run(std::size_t threads, std::size_t total) {
  fiberpool::pool_options opts;
  opts.limit = 100'000;  // far above a batch: no job waits for a slot or runs inline
  opts.threads = threads;
  fiberpool::task_pool pool(opts);
  pool.start();
  auto t0 = bench::clock::now();
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
  double ns = bench::ns_since(t0);
  pool.stop();
  return ns / static_cast<double>(total);
}

// run_foreign: the same batches applied from a plain thread that is no thread of the runtime (a
// server's acceptor or another library's callback): every job crosses to the runtime's inbox.
double run_foreign(std::size_t threads, std::size_t total) {
  fiberpool::pool_options opts;
  opts.limit = 100'000;
  opts.threads = threads;
  fiberpool::task_pool pool(opts);
  pool.start();
  std::vector<fiberpool::job<void>> batch;
  batch.reserve(1000);
  auto t0 = bench::clock::now();
  for (std::size_t done = 0; done < total; done += 1000) {
    for (int i = 0; i < 1000; ++i) batch.push_back(pool.apply([] {}));
    for (auto& j : batch) j.wait();
    batch.clear();
  }
  double ns = bench::ns_since(t0);
  pool.stop();
  return ns / static_cast<double>(total);
}

}  // namespace

int main(int argc, char** argv) {
  std::size_t total = bench::arg(argc, argv, 1, 200'000);
  for (std::size_t threads : {1, 2})
    bench::metric("spawn.t" + std::to_string(threads) + ".ns_per_job", run(threads, total));
  for (std::size_t threads : {1, 2})
    bench::metric("spawn_foreign.t" + std::to_string(threads) + ".ns_per_job", run_foreign(threads, total));
}
