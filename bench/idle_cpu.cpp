// idle_cpu: CPU time a started pool with no work uses over 2 s (it should sleep in epoll).
#include <chrono>
#include <cstdio>
#include <thread>

#include <sys/resource.h>

#include <fiberpool/fiberpool.hpp>

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
  std::printf("%-10s %8s %14s %12s\n", "workload", "threads", "cpu over 2 s", "% of a core");
  std::printf("%-10s %8d %13.4fs %11.3f%%\n", "idle", 2, used, used / 2.0 * 100.0);
  pool.stop();
}
