// million: issue 11's scenario 7. N jobs (default 100,000; bench/compare passes 1,000,000) applied
// from a plain thread into a pool of one thread, each blocking on one shared event; then the event
// is set from the plain thread. Reports the time to apply them and see every one started, the time
// from set() until the last has ended, the process's peak RSS (VmHWM) and how long the pool then
// takes to stop and be destroyed, and the page faults per job of the first two phases. The Go
// peer runs the same program on goroutines.
#include <atomic>
#include <chrono>
#include <fstream>
#include <optional>
#include <string>
#include <thread>

#include <sys/resource.h>

#include <fiberpool/fiberpool.hpp>

#include "bench_util.hpp"

namespace {

// peak_rss_bytes: VmHWM from /proc/self/status, the high-water mark of the resident set.
std::size_t peak_rss_bytes() {
  std::ifstream f("/proc/self/status");
  for (std::string line; std::getline(f, line);)
    if (line.rfind("VmHWM:", 0) == 0) return std::stoull(line.substr(6)) * 1024;
  return 0;
}

// minor_faults: page faults of the process so far (first touches of fresh pages, mostly stacks).
long minor_faults() {
  rusage u{};
  ::getrusage(RUSAGE_SELF, &u);
  return u.ru_minflt;
}

void wait_until(const std::atomic<std::size_t>& count, std::size_t n) {
  while (count.load(std::memory_order_acquire) < n) std::this_thread::sleep_for(std::chrono::microseconds(200));
}

}  // namespace

int main(int argc, char** argv) {
  const std::size_t n = bench::arg(argc, argv, 1, 100'000);
  std::atomic<std::size_t> started{0}, ended{0};
  fiberpool::event go;
  std::optional<fiberpool::task_pool> pool;
  {
    fiberpool::pool_options opts;
    opts.limit = n;  // every job runs at once: each holds a carrier and its stack while it waits
    opts.threads = 1;
    pool.emplace(opts);
  }
  pool->start();
  long f0 = minor_faults();
  auto t0 = bench::clock::now();
  for (std::size_t i = 0; i < n; ++i)
    pool->apply([&] {
      started.fetch_add(1, std::memory_order_release);
      go.wait();
      ended.fetch_add(1, std::memory_order_release);
    });  // handles dropped, as Go drops nothing it could keep
  wait_until(started, n);
  double start_ms = bench::ns_since(t0) / 1e6;
  long f1 = minor_faults();
  auto t1 = bench::clock::now();
  go.set();
  wait_until(ended, n);
  pool->waitall();
  double wake_ms = bench::ns_since(t1) / 1e6;
  long f2 = minor_faults();
  std::size_t peak = peak_rss_bytes();
  auto t2 = bench::clock::now();
  pool->stop();
  pool.reset();
  double teardown_ms = bench::ns_since(t2) / 1e6;
  bench::metric("million.start_ms", start_ms);
  bench::metric("million.wake_end_ms", wake_ms);
  bench::metric("million.peak_rss_mb", static_cast<double>(peak) / (1024.0 * 1024.0));
  bench::metric("million.teardown_ms", teardown_ms);
  // Page faults per job in each phase: a fresh stack page costs a fault, and on a VM a fault
  // costs microseconds; these say how many pages each phase touched per job.
  bench::metric("million.start_faults_per_job", static_cast<double>(f1 - f0) / static_cast<double>(n));
  bench::metric("million.wake_end_faults_per_job", static_cast<double>(f2 - f1) / static_cast<double>(n));
}
