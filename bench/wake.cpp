// wake: latency from a foreign thread's event::set() or apply() to the job running, on an idle
// 2-thread pool (its threads asleep in epoll, as in a server between requests); p50/p99/p99.9 in ns.
#include <atomic>
#include <memory>
#include <thread>
#include <vector>

#include <fiberpool/fiberpool.hpp>

#include "bench_util.hpp"

namespace {

using bench::clock;

void report(const char* what, std::vector<double>& ns) {
  std::string base = std::string("wake.") + what;
  bench::metric(base + ".p50_ns", bench::percentile(ns, 50));
  bench::metric(base + ".p99_ns", bench::percentile(ns, 99));
  bench::metric(base + ".p999_ns", bench::percentile(ns, 99.9));
}

// Between samples the foreign thread sleeps, so every sample starts from an idle pool.
constexpr auto gap = std::chrono::microseconds(200);

}  // namespace

int main(int argc, char** argv) {
  std::size_t samples = bench::arg(argc, argv, 1, 1'000);
  fiberpool::pool_options opts;
  opts.threads = bench::arg(argc, argv, 2, 2);
  fiberpool::task_pool pool(opts);
  pool.start();

  // event::set(): one job waits on a fresh event per sample and stamps the time it wakes.
  std::vector<std::unique_ptr<fiberpool::event>> evs;
  for (std::size_t i = 0; i < samples; ++i) evs.push_back(std::make_unique<fiberpool::event>());
  std::vector<clock::time_point> set_at(samples), woke_at(samples);
  std::atomic<std::size_t> waiting{0};  // index of the event the job is about to wait on
  auto waiter = pool.apply([&] {
    for (std::size_t i = 0; i < samples; ++i) {
      waiting.store(i, std::memory_order_release);
      evs[i]->wait();
      woke_at[i] = clock::now();
    }
  });
  std::vector<double> ns;
  for (std::size_t i = 0; i < samples; ++i) {
    while (waiting.load(std::memory_order_acquire) != i) std::this_thread::yield();
    std::this_thread::sleep_for(gap);  // let the job block and the threads go idle
    set_at[i] = clock::now();
    evs[i]->set();
  }
  waiter.get();
  for (std::size_t i = 0; i < samples; ++i)
    ns.push_back(std::chrono::duration<double, std::nano>(woke_at[i] - set_at[i]).count());
  report("event", ns);

  // apply(): the job stamps the time it starts running.
  ns.clear();
  for (std::size_t i = 0; i < samples; ++i) {
    std::this_thread::sleep_for(gap);
    clock::time_point ran;
    auto t0 = clock::now();
    pool.apply([&] { ran = clock::now(); }).wait();
    ns.push_back(std::chrono::duration<double, std::nano>(ran - t0).count());
  }
  report("apply", ns);
  pool.stop();
}
