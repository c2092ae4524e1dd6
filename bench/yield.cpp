// yield: two jobs on one thread yielding to each other with this_job::yield(); ns per switch.
#include <fiberpool/fiberpool.hpp>

#include "bench_util.hpp"

int main(int argc, char** argv) {
  std::size_t rounds = bench::arg(argc, argv, 1, 200'000);  // yields per job
  fiberpool::pool_options opts;
  opts.threads = 1;  // one thread: every yield is a switch to the other job
  fiberpool::task_pool pool(opts);
  pool.start();
  fiberpool::event go;
  auto body = [&] {
    go.wait();
    for (std::size_t i = 0; i < rounds; ++i) fiberpool::this_job::yield();
  };
  auto a = pool.apply(body);
  auto b = pool.apply(body);
  pool.apply([] {}).get();  // both jobs are now blocked on `go`
  auto t0 = bench::clock::now();
  go.set();
  a.get();
  b.get();
  double ns = bench::ns_since(t0);
  pool.stop();
  bench::metric("yield.ns_per_switch", ns / static_cast<double>(2 * rounds));
}
