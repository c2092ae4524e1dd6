// kill: latency of terminate_job() on a job blocked in event::wait until it unwinds, and of grow()
// until a queued job starts; p50/p99 in ns over `samples` tries, called from a foreign thread.
#include <thread>
#include <vector>

#include <fiberpool/fiberpool.hpp>

#include "bench_util.hpp"

namespace {

using bench::clock;

double ns_between(clock::time_point a, clock::time_point b) {
  return std::chrono::duration<double, std::nano>(b - a).count();
}

// unwound: stamps the time a killed job's stack unwinds past it (no suspension in the destructor).
struct unwound {
  clock::time_point& at;
  ~unwound() { at = clock::now(); }
};

void report(const std::string& what, std::vector<double>& ns) {
  bench::metric("kill." + what + ".p50_ns", bench::percentile(ns, 50));
  bench::metric("kill." + what + ".p99_ns", bench::percentile(ns, 99));
}

}  // namespace

int main(int argc, char** argv) {
  std::size_t samples = bench::arg(argc, argv, 1, 500);
  fiberpool::pool_options opts;
  opts.threads = 2;
  fiberpool::task_pool pool(opts);
  pool.start();

  std::vector<double> kill_ns, grow_ns;
  for (std::size_t i = 0; i < samples; ++i) {
    fiberpool::event never, started;
    clock::time_point done;
    auto j = pool.apply([&] {
      unwound u{done};
      started.set();
      never.wait();
    });
    started.wait();
    std::this_thread::sleep_for(std::chrono::microseconds(100));  // it is now blocked in wait()
    auto t0 = clock::now();
    pool.terminate_job(j.id());
    j.wait();
    kill_ns.push_back(ns_between(t0, done));
  }
  report("terminate", kill_ns);

  for (std::size_t i = 0; i < samples; ++i) {
    pool.resize(1);
    fiberpool::event release, started;
    auto holder = pool.apply([&] { started.set(); release.wait(); });
    started.wait();
    clock::time_point ran;
    auto queued = pool.apply([&] { ran = clock::now(); });  // queued behind the holder
    std::this_thread::sleep_for(std::chrono::microseconds(100));
    auto t0 = clock::now();
    pool.grow(1);
    queued.wait();
    grow_ns.push_back(ns_between(t0, ran));
    release.set();
    holder.wait();
  }
  report("grow", grow_ns);
  pool.stop();
}
