// skynet: a 10-ary tree of jobs with `leaves` leaves, each inner job applies 10 children and sums
// their get(); ms for the whole tree, 1 and 2 threads. The sum must be leaves*(leaves-1)/2.
#include <cstdio>
#include <cstdlib>
#include <string>

#include <fiberpool/fiberpool.hpp>

#include "bench_util.hpp"

namespace {

long long skynet(fiberpool::task_pool& pool, long long num, long long size) {
  if (size == 1) return num;
  fiberpool::job<long long> children[10];
  long long step = size / 10;
  for (int i = 0; i < 10; ++i)
    children[i] = pool.apply([&pool, n = num + i * step, step] { return skynet(pool, n, step); });
  long long sum = 0;
  for (auto& c : children) sum += c.get();
  return sum;
}

double run(std::size_t threads, long long leaves) {
  fiberpool::pool_options opts;
  // A job applying into its own full pool runs the child inline; a limit above the tree's
  // 1.1 x leaves jobs keeps every node a real job, as in the Go and Boost.Fiber peers.
  opts.limit = static_cast<std::size_t>(leaves) * 2;
  opts.threads = threads;
  fiberpool::task_pool pool(opts);
  pool.start();
  auto t0 = bench::clock::now();
  long long sum = pool.apply([&] { return skynet(pool, 0, leaves); }).get();
  double ns = bench::ns_since(t0);
  pool.stop();
  if (sum != leaves * (leaves - 1) / 2) {
    std::fprintf(stderr, "skynet: wrong sum %lld\n", sum);
    std::exit(1);
  }
  return ns / 1e6;
}

}  // namespace

int main(int argc, char** argv) {
  auto leaves = static_cast<long long>(bench::arg(argc, argv, 1, 100'000));
  for (std::size_t threads : {1, 2})
    bench::metric("skynet.t" + std::to_string(threads) + ".ms", run(threads, leaves));
}
