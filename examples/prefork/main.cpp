// fiberpool-prefork: Celery's prefork pool in C++. A CPU-heavy task (a checksum over generated
// data) runs in worker processes on every core, next to one task that crashes its worker and one
// that loops forever under a hard time limit. The checksums all finish, the crash is reported as
// worker_lost, the loop is killed, and the pool keeps its size. Exit 0 when all of that held.
#include <signal.h>

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <thread>
#include <vector>

#include <fiberpool/fiberpool.hpp>
#include <spdlog/spdlog.h>

namespace fp = fiberpool;
using namespace std::chrono_literals;

namespace {

// checksum: FNV-1a over `megabytes` MiB generated from the seed in the payload.
std::string checksum(std::string_view payload) {
  auto sep = payload.find(':');
  std::uint64_t seed = std::stoull(std::string(payload.substr(0, sep)));
  std::size_t megabytes = std::stoull(std::string(payload.substr(sep + 1)));
  std::uint64_t x = 2 * seed + 1, hash = 1469598103934665603ull;
  for (std::size_t i = 0; i < megabytes * (1 << 20) / 8; ++i) {
    x ^= x << 13, x ^= x >> 7, x ^= x << 17;  // xorshift: the "data"
    for (int b = 0; b < 8; ++b) hash = (hash ^ ((x >> (8 * b)) & 0xff)) * 1099511628211ull;
  }
  return std::to_string(hash);
}

void register_tasks() {
  fp::register_task("checksum", checksum);
  fp::register_task("crash", [](std::string_view) -> std::string {
    ::raise(SIGSEGV);  // a bug in native code: the worker dies, the parent does not
    return {};
  });
  fp::register_task("loop", [](std::string_view) -> std::string {
    for (volatile std::uint64_t i = 0;; i = i + 1) {}  // no cancellation point: only a kill ends it
  });
}

}  // namespace

int main(int argc, char** argv) {
  register_tasks();
  if (auto rc = fp::run_if_worker(argc, argv)) return *rc;  // a worker process: serve, then exit

  fp::process_pool_options opts;
  opts.name = "prefork";
  opts.processes = std::max(2u, std::thread::hardware_concurrency());
  opts.kill_grace = 200ms;
  std::setvbuf(stdout, nullptr, _IOLBF, 0);  // lines as they come, also into a pipe
  if (std::getenv("PREFORK_DEBUG")) fp::logger()->set_level(spdlog::level::debug);
  fp::process_pool pool(opts);
  pool.start();
  std::printf("prefork: %zu worker processes: ", pool.num_processes());
  for (int pid : pool.worker_pids()) std::printf("%d ", pid);
  std::printf("\n");

  auto t0 = std::chrono::steady_clock::now();
  std::vector<fp::job<std::string>> sums;
  for (std::size_t i = 0; i < 4 * pool.num_processes(); ++i)
    sums.push_back(pool.apply("checksum", std::to_string(i + 1) + ":16"));
  auto crash = pool.apply("crash", "");
  fp::job_options limited;
  limited.hard_time_limit = 300ms;
  auto loop = pool.apply("loop", "", limited);

  bool ok = true;
  for (std::size_t i = 0; i < sums.size(); ++i) {
    try {
      std::printf("  checksum %2zu: %s\n", i + 1, sums[i].get().c_str());
    } catch (const std::exception& e) {
      std::printf("  checksum %2zu failed: %s\n", i + 1, e.what());
      ok = false;
    }
  }
  try {
    crash.get();
    ok = false;
  } catch (const fp::worker_lost& e) {
    std::printf("crash: worker_lost (signal %d): %s\n", e.term_signal(), e.what());
    ok = ok && e.term_signal() == SIGSEGV;
  }
  try {
    loop.get();
    ok = false;
  } catch (const fp::time_limit_exceeded&) {
    std::printf("loop: killed by its 300 ms hard time limit (%s)\n", std::string(fp::to_string(loop.state())).c_str());
  }
  auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - t0).count();
  // The crashed worker and the one whose loop was killed (after kill_grace) have been replaced.
  for (int i = 0; i < 5000 && (pool.info().workers_lost < 2 || pool.worker_pids().size() < pool.num_processes()); ++i)
    std::this_thread::sleep_for(1ms);
  auto info = pool.info();
  std::printf("prefork: %zu checksums in %lld ms; workers now %zu (lost %zu, replaced %zu); succeeded %zu, failed %zu, "
              "terminated %zu\n", sums.size(), static_cast<long long>(ms), pool.worker_pids().size(), info.workers_lost,
              info.workers_replaced, info.succeeded, info.failed, info.terminated);
  ok = ok && pool.worker_pids().size() == pool.num_processes() && info.succeeded == sums.size() && info.failed == 1 &&
       info.terminated == 1 && info.workers_lost == 2;
  pool.stop();
  std::printf("prefork: %s\n", ok ? "OK: every checksum finished, the crash was contained, the loop was killed"
                                   : "FAILED: see above");
  return ok ? 0 : 1;
}
