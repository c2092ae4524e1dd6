// map_mem: RSS while a map runs over a lazily generated range of `items` elements with
// num_concurrent `window`, its results read as they come: flat, whatever the number of items.
// Arguments: items, window, threads.
#include <algorithm>
#include <cstdint>
#include <ranges>

#include <fiberpool/fiberpool.hpp>

#include "bench_util.hpp"

int main(int argc, char** argv) {
  std::size_t items = bench::arg(argc, argv, 1, 1'000'000);
  std::size_t window = bench::arg(argc, argv, 2, 100);
  // Two threads by default (a map's jobs run on all of them); with two, the stack caches drift
  // towards their working size for a while (stacks freed on one thread, refilled on the other).
  std::size_t threads = bench::arg(argc, argv, 3, 2);
  fiberpool::pool_options opts;
  opts.threads = threads;
  fiberpool::task_pool pool(opts);
  pool.start();
  pool.apply([] {}).get();

  // Two figures: the largest RSS during the map minus the RSS before it (everything the map costs,
  // the warm-up of stack caches and allocator included), and the largest RSS in the last 90% of the
  // items minus the RSS at 10% (what it costs per item: zero for a map that does not grow).
  std::size_t base = bench::rss_bytes(), most = base, at_tenth = 0, most_after = 0;
  const std::uint64_t tenth = std::max<std::uint64_t>(items / 10, 1);
  auto t0 = bench::clock::now();
  auto stream = pool.map([](std::uint64_t i) { return i * 2; },
                         std::views::iota(std::uint64_t{0}, std::uint64_t{items}), window);
  std::uint64_t read = 0, sum = 0;
  while (auto v = stream.next()) {
    sum += *v;
    if (++read % 4096 == 0 || read == tenth) {
      std::size_t now = bench::rss_bytes();
      most = std::max(most, now);
      if (read == tenth) at_tenth = now;
      if (at_tenth && read > tenth) most_after = std::max(most_after, now);
    }
  }
  double ns = bench::ns_since(t0);
  pool.stop();
  if (sum != static_cast<std::uint64_t>(items) * (items - 1)) {
    std::fprintf(stderr, "map_mem: wrong sum %llu\n", static_cast<unsigned long long>(sum));
    return 1;
  }
  bench::metric("map_mem.items", static_cast<double>(read));
  bench::metric("map_mem.num_concurrent", static_cast<double>(window));
  bench::metric("map_mem.rss_growth_kib", static_cast<double>(most - base) / 1024.0);
  bench::metric("map_mem.rss_growth_after_tenth_kib",
                (static_cast<double>(std::max(most_after, at_tenth)) - static_cast<double>(at_tenth)) / 1024.0);
  bench::metric("map_mem.ns_per_item", ns / static_cast<double>(read));
  // Most of the growth is the stack caches reaching their working size (each cached stack keeps
  // the pages its last fiber touched): this many stacks were cached at the end.
  bench::metric("map_mem.stacks_cached", static_cast<double>(fiberpool::diagnostics::snapshot().stacks_cached));
}
