// process: process_pool figures (issue 12). This program is its own worker (run_if_worker).
//  - process.echo.ns_per_job: round trip of a 16-byte echo task, 2 workers, jobs_per_process 16,
//    a window of 1,000 jobs in flight (frames to one worker batch into one write).
//  - process.cpu.speedup_x100: a CPU-bound task on 2 workers against 1, x100.
//  - process.crash.p99_ms: from apply() of a task that crashes its worker to worker_lost (20 crashes).
#include <signal.h>

#include <cstdint>
#include <string>
#include <vector>

#include <fiberpool/fiberpool.hpp>

#include "bench_util.hpp"

namespace fp = fiberpool;

namespace {

std::string burn(std::string_view payload) {
  std::uint64_t n = std::stoull(std::string(payload)), x = 88172645463325252ull, h = 0;
  for (std::uint64_t i = 0; i < n; ++i) {
    x ^= x << 13, x ^= x >> 7, x ^= x << 17;
    h += x;
  }
  return std::to_string(h);
}

fp::process_pool_options opts(std::size_t processes, std::size_t per) {
  fp::process_pool_options o;
  o.processes = processes;
  o.jobs_per_process = per;
  return o;
}

double echo_ns(std::size_t jobs) {
  fp::process_pool pool(opts(2, 16));
  pool.start();
  std::vector<fp::job<std::string>> window;
  auto t0 = bench::clock::now();
  for (std::size_t done = 0; done < jobs; done += 1000) {
    for (int i = 0; i < 1000; ++i) window.push_back(pool.apply("echo", std::string(16, 'e')));
    for (auto& j : window) j.get();
    window.clear();
  }
  return bench::ns_since(t0) / static_cast<double>(jobs);
}

double cpu_ms(std::size_t processes, std::size_t tasks, std::size_t work) {
  fp::process_pool pool(opts(processes, 1));
  pool.start();
  std::vector<fp::job<std::string>> all;
  auto t0 = bench::clock::now();
  for (std::size_t i = 0; i < tasks; ++i) all.push_back(pool.apply("burn", std::to_string(work)));
  for (auto& j : all) j.get();
  return bench::ns_since(t0) / 1e6;
}

// crash_p99_ms: apply() of a task that kills its worker at once, to get() throwing worker_lost:
// an upper bound of crash-to-worker_lost (it includes one dispatch, well under a millisecond).
double crash_p99_ms(int crashes) {
  fp::process_pool pool(opts(2, 1));
  pool.start();
  std::vector<double> ms;
  for (int i = 0; i < crashes; ++i) {
    auto t0 = bench::clock::now();
    try {
      pool.apply("crash", "").get();
    } catch (const fp::worker_lost&) {
    }
    ms.push_back(bench::ns_since(t0) / 1e6);
  }
  return bench::percentile(ms, 99);
}

}  // namespace

int main(int argc, char** argv) {
  fp::register_task("echo", [](std::string_view p) { return std::string(p); });
  fp::register_task("burn", burn);
  fp::register_task("crash", [](std::string_view) -> std::string {
    ::kill(::getpid(), SIGKILL);
    return {};
  });
  if (auto rc = fp::run_if_worker(argc, argv)) return *rc;
  const std::size_t jobs = bench::arg(argc, argv, 1, 20'000);
  const std::size_t work = bench::arg(argc, argv, 2, 20'000'000);
  bench::metric("process.echo.ns_per_job", echo_ns(jobs));
  double one = cpu_ms(1, 8, work), two = cpu_ms(2, 8, work);
  bench::metric("process.cpu.t1.ms", one);
  bench::metric("process.cpu.t2.ms", two);
  bench::metric("process.cpu.speedup_x100", 100.0 * one / two);
  bench::metric("process.crash.p99_ms", crash_p99_ms(20));
}
