// idle_cpu: CPU time a started 2-thread pool with no work uses over 2 s (it should sleep in epoll).
#include <chrono>
#include <thread>

#include <sys/resource.h>

#include <fiberpool/fiberpool.hpp>

#include "bench_util.hpp"

namespace {

double cpu_seconds() {
  rusage ru{};
  getrusage(RUSAGE_SELF, &ru);
  return static_cast<double>(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
         static_cast<double>(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
}

}  // namespace

int main() {
  fiberpool::pool_options opts;
  opts.threads = 2;
  fiberpool::task_pool pool(opts);
  pool.start();
  pool.apply([] {}).get();  // let the threads settle
  double before = cpu_seconds();
  std::this_thread::sleep_for(std::chrono::seconds(2));
  double used = cpu_seconds() - before;
  pool.stop();
  bench::metric("idle_cpu.percent_of_core", used / 2.0 * 100.0);
}
