// flush_mem: RSS of a long-lived pool that runs `jobs` jobs, flush()ing every `every` of them:
// flat, whatever the number of jobs run; and, for contrast, the same without flush() (8 bytes a
// job). Arguments: jobs, every, limit, threads.
#include <algorithm>
#include <cstdio>

#include <fiberpool/fiberpool.hpp>

#include "bench_util.hpp"

namespace {

struct growth {
  double kib = 0;          // largest RSS seen after the warm-up, minus the RSS after it
  double end_kib = 0;      // the RSS at the end, minus the same
  double remembered = 0;   // ended ids the pool still kept at the end
};

// run: `jobs` trivial jobs in batches of `every`; after each batch waits for it (and flushes).
growth run(std::size_t jobs, std::size_t every, std::size_t limit, std::size_t threads, bool flush) {
  fiberpool::pool_options opts;
  opts.threads = threads;
  opts.limit = limit;
  fiberpool::task_pool pool(opts);
  pool.start();
  fiberpool::job_options grouped;
  grouped.group = "batch";
  auto batch = [&] {
    for (std::size_t i = 0; i < every; ++i) pool.apply(grouped, [] {});
    pool.waitall();
    if (flush) pool.flush();
  };
  // The baseline is taken after a tenth of the jobs: by then the threads, the stack caches (which
  // keep pages of up to `limit` stacks resident) and the allocator's pools have their working size.
  const std::size_t batches = std::max<std::size_t>(jobs / every, 10), warm = batches / 10;
  std::size_t base = 0, most = 0;
  for (std::size_t b = 0; b < batches; ++b) {
    batch();
    if (b + 1 == warm) base = most = bench::rss_bytes();
    if (b + 1 > warm) most = std::max(most, bench::rss_bytes());
  }
  growth g;
  g.kib = (static_cast<double>(most) - static_cast<double>(base)) / 1024.0;
  g.end_kib = (static_cast<double>(bench::rss_bytes()) - static_cast<double>(base)) / 1024.0;
  g.remembered = static_cast<double>(pool.info().remembered);
  pool.stop();
  return g;
}

}  // namespace

int main(int argc, char** argv) {
  std::size_t jobs = bench::arg(argc, argv, 1, 200'000);
  std::size_t every = bench::arg(argc, argv, 2, 10'000);
  // A limit of 100 keeps the stack caches' share of RSS steady (with 1,000 jobs running at once
  // their working size swings by megabytes, which would hide what this measures).
  std::size_t limit = bench::arg(argc, argv, 3, 100);
  // One thread by default: with two, stacks freed on one thread and refilled on the other make the
  // stack caches grow towards their bounds (thousands of stacks, tens of MiB) over the first few
  // hundred thousand jobs, whatever flush() does.
  std::size_t threads = bench::arg(argc, argv, 4, 1);
  bench::metric("flush_mem.jobs", static_cast<double>(jobs));
  auto flushed = run(jobs, every, limit, threads, true);
  bench::metric("flush_mem.flushed_rss_growth_kib", flushed.kib);
  bench::metric("flush_mem.flushed_rss_end_kib", flushed.end_kib);
  bench::metric("flush_mem.flushed_remembered", flushed.remembered);
  auto kept = run(jobs, every, limit, threads, false);
  bench::metric("flush_mem.unflushed_rss_growth_kib", kept.kib);
  bench::metric("flush_mem.unflushed_rss_end_kib", kept.end_kib);
  bench::metric("flush_mem.unflushed_remembered", kept.remembered);
}
