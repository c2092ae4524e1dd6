// boost_fiber: the spawn, yield and skynet workloads on raw Boost.Fiber (round_robin, one thread).
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include <boost/fiber/all.hpp>

#include "../bench_util.hpp"

namespace {

namespace fibers = boost::fibers;

// 64 KiB stacks from a pool, the nearest raw-Boost match to fiberpool's default stacks and cache.
fibers::pooled_fixedsize_stack& stacks() {
  static fibers::pooled_fixedsize_stack s(64 * 1024);
  return s;
}

template <class F>
fibers::fiber launch(F&& f) {
  return fibers::fiber(std::allocator_arg, stacks(), std::forward<F>(f));
}

// spawn: fibers launched in batches of 1,000 from a fiber, the batch joined before the next.
double spawn(std::size_t total) {
  double ns = 0;
  launch([&] {
    std::vector<fibers::fiber> batch;
    batch.reserve(1000);
    auto t0 = bench::clock::now();
    for (std::size_t done = 0; done < total; done += 1000) {
      for (int i = 0; i < 1000; ++i) batch.push_back(launch([] {}));
      for (auto& f : batch) f.join();
      batch.clear();
    }
    ns = bench::ns_since(t0);
  }).join();
  return ns / static_cast<double>(total);
}

double yield(std::size_t rounds) {
  auto body = [rounds] {
    for (std::size_t i = 0; i < rounds; ++i) boost::this_fiber::yield();
  };
  auto t0 = bench::clock::now();
  auto a = launch(body);
  auto b = launch(body);
  a.join();
  b.join();
  return bench::ns_since(t0) / static_cast<double>(2 * rounds);
}

// skynet: each node launches 10 child fibers and sums their results after joining them.
long long skynet(long long num, long long size) {
  if (size == 1) return num;
  long long results[10];
  fibers::fiber children[10];
  long long step = size / 10;
  for (int i = 0; i < 10; ++i)
    children[i] = launch([&results, i, n = num + i * step, step] { results[i] = skynet(n, step); });
  long long sum = 0;
  for (int i = 0; i < 10; ++i) {
    children[i].join();
    sum += results[i];
  }
  return sum;
}

}  // namespace

// usage: peer-boost-fiber spawn N | yield N | yield_ws N | skynet LEAVES
// yield_ws: the yield workload under Boost's work_stealing algorithm (one thread), which pays for
// stealing as fiberpool's scheduler does: detach/attach on every switch and a locked queue.
int main(int argc, char** argv) {
  if (argc < 3) {
    std::fprintf(stderr, "usage: %s spawn|yield|skynet N\n", argv[0]);
    return 2;
  }
  std::string what = argv[1];
  auto n = bench::arg(argc, argv, 2, 0);
  if (what == "yield_ws") {
    fibers::use_scheduling_algorithm<fibers::algo::work_stealing>(1);
    bench::metric("yield.ws_ns_per_switch", yield(n));
    return 0;
  }
  fibers::use_scheduling_algorithm<fibers::algo::round_robin>();
  if (what == "spawn") {
    bench::metric("spawn.t1.ns_per_job", spawn(n));
  } else if (what == "yield") {
    bench::metric("yield.ns_per_switch", yield(n));
  } else if (what == "skynet") {
    auto leaves = static_cast<long long>(n);
    long long sum = 0;
    auto t0 = bench::clock::now();
    launch([&] { sum = skynet(0, leaves); }).join();
    double ms = bench::ns_since(t0) / 1e6;
    if (sum != leaves * (leaves - 1) / 2) {
      std::fprintf(stderr, "skynet: wrong sum %lld\n", sum);
      return 1;
    }
    bench::metric("skynet.t1.ms", ms);
  } else {
    return 2;
  }
}
