// wake_floor: the machine's own floor for bench/wake: a plain thread asleep in epoll_wait woken
// through an eventfd by another thread, with the same 200 us gap between samples and no fiberpool
// at all. fiberpool's wake latency cannot be lower than this; on a VM it is mostly the time the
// hypervisor takes to run a halted vCPU again.
#include <atomic>
#include <cstdint>
#include <thread>
#include <vector>

#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "bench_util.hpp"

int main(int argc, char** argv) {
  std::size_t samples = bench::arg(argc, argv, 1, 2'000);
  int efd = ::eventfd(0, EFD_NONBLOCK);
  int ep = ::epoll_create1(0);
  epoll_event ev{};
  ev.events = EPOLLIN;
  ::epoll_ctl(ep, EPOLL_CTL_ADD, efd, &ev);
  std::vector<bench::clock::time_point> sent(samples), woke(samples);
  std::atomic<std::size_t> ready{0};
  std::thread sleeper([&] {
    for (std::size_t i = 0; i < samples; ++i) {
      ready.store(i + 1, std::memory_order_release);
      epoll_event out;
      while (::epoll_wait(ep, &out, 1, -1) != 1) {}
      woke[i] = bench::clock::now();
      std::uint64_t n;
      [[maybe_unused]] auto r = ::read(efd, &n, sizeof n);
    }
  });
  for (std::size_t i = 0; i < samples; ++i) {
    while (ready.load(std::memory_order_acquire) != i + 1) std::this_thread::yield();
    std::this_thread::sleep_for(std::chrono::microseconds(200));  // the sleeper is in epoll_wait
    sent[i] = bench::clock::now();
    std::uint64_t one = 1;
    [[maybe_unused]] auto w = ::write(efd, &one, sizeof one);
  }
  sleeper.join();
  std::vector<double> ns;
  for (std::size_t i = 0; i < samples; ++i)
    ns.push_back(std::chrono::duration<double, std::nano>(woke[i] - sent[i]).count());
  bench::metric("wake.floor_p50_ns", bench::percentile(ns, 50));
  bench::metric("wake.floor_p99_ns", bench::percentile(ns, 99));
  bench::metric("wake.floor_p999_ns", bench::percentile(ns, 99.9));
}
