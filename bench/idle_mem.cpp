// idle_mem: RSS per job with `blocked` jobs blocked on an event (default 64 KiB stacks), and bytes
// per queued job with `queued` jobs waiting behind a limit of 1.
#include <atomic>
#include <thread>

#include <fiberpool/fiberpool.hpp>

#include "bench_util.hpp"

namespace {

double per_blocked_job(std::size_t n) {
  fiberpool::pool_options opts;
  opts.limit = n;  // every job gets a fiber and a stack
  opts.threads = 1;
  fiberpool::task_pool pool(opts);
  pool.start();
  pool.apply([] {}).get();  // the thread, its caches and first stack exist before the baseline
  fiberpool::event ev;
  std::atomic<std::size_t> blocked{0};
  std::size_t before = bench::rss_bytes();
  for (std::size_t i = 0; i < n; ++i)
    pool.apply([&] {
      blocked.fetch_add(1, std::memory_order_relaxed);
      ev.wait();
    });  // handles dropped: the job's own record is what is measured
  while (blocked.load() < n) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  std::size_t after = bench::rss_bytes();
  ev.set();
  pool.stop();
  return static_cast<double>(after - before) / static_cast<double>(n);
}

double per_queued_job(std::size_t n) {
  fiberpool::pool_options opts;
  opts.limit = 1;
  opts.threads = 1;
  fiberpool::task_pool pool(opts);
  pool.start();
  fiberpool::event ev;
  pool.apply([&] { ev.wait(); });  // holds the only slot: everything after it queues
  pool.apply([] {}); // warm the allocator's size class for records and closures
  std::size_t before = bench::rss_bytes();
  for (std::size_t i = 0; i < n; ++i) pool.apply([] {});
  std::size_t after = bench::rss_bytes();
  ev.set();
  pool.stop();
  return static_cast<double>(after - before) / static_cast<double>(n);
}

}  // namespace

int main(int argc, char** argv) {
  std::size_t blocked = bench::arg(argc, argv, 1, 10'000);
  std::size_t queued = bench::arg(argc, argv, 2, 100'000);
  bench::metric("idle_mem.blocked_bytes_per_job", per_blocked_job(blocked));
  bench::metric("idle_mem.queued_bytes_per_job", per_queued_job(queued));
}
