// tour: the README's API tour, compiled and run by the test suite so it cannot go stale.
#include <chrono>
#include <csignal>
#include <cstdio>
#include <ranges>
#include <stdexcept>
#include <string>

#include <fiberpool/fiberpool.hpp>

using namespace std::chrono_literals;

int main() {
  fiberpool::pool_options opts;
  opts.name = "tour";
  opts.limit = 100;                 // jobs running at once (eventlet GreenPool size)
  opts.threads = 2;                 // scheduler threads
  fiberpool::task_pool pool(opts);

  pool.signals().pool_started.connect([](fiberpool::task_pool& p) { std::printf("%s started\n", p.name().c_str()); });
  pool.start();

  // apply() returns a job<R> handle; get() waits (suspending only the calling fiber inside a job).
  auto answer = pool.apply([](int a, int b) { return a * b; }, 6, 7);

  // Every job has a pseudo-pid; terminate_job() kills it at its next cancellation point.
  fiberpool::event never;
  fiberpool::job_options stuck_opts;
  stuck_opts.name = "stuck";
  stuck_opts.on_ended = [](fiberpool::job_id id, fiberpool::job_state s, std::exception_ptr) {
    std::printf("job %llu ended %s\n", static_cast<unsigned long long>(id), std::string(fiberpool::to_string(s)).c_str());
  };
  auto stuck = pool.apply(stuck_opts, [&] { never.wait(); });

  // Time limits: the soft one is an exception the job may catch, the hard one a kill.
  fiberpool::job_options limited;
  limited.soft_time_limit = 50ms;
  auto polite = pool.apply(limited, [] {
    try {
      fiberpool::this_job::sleep_for(10s);
    } catch (const fiberpool::soft_time_limit_exceeded&) {
      return std::string("cleaned up after the soft limit");
    }
    return std::string("slept");
  });

  pool.grow(50);                     // limit 150: queued jobs start at once
  pool.shrink(100);                  // limit 50: running jobs are never killed

  std::printf("6 * 7 = %d\n", answer.get());
  std::printf("%s\n", polite.get().c_str());
  pool.terminate_job(stuck.id(), SIGTERM);
  try {
    stuck.get();
  } catch (const fiberpool::job_terminated& k) {  // not a std::exception, like GreenletExit
    std::printf("stuck job killed by signal %d\n", k.signal());
  }

  // map() pulls its input lazily, never more than num_concurrent items in flight, and streams the
  // results in input order (map_unordered: completion order). An item's exception is rethrown for
  // that item only; the stream goes on.
  auto squares = pool.map([](int x) {
    if (x == 3) throw std::domain_error("no squares of three today");
    return x * x;
  }, std::views::iota(1, 6), /*num_concurrent=*/2);
  for (;;) {
    try {
      auto square = squares.next();
      if (!square) break;
      std::printf("square %d\n", *square);
    } catch (const std::domain_error& e) {
      std::printf("one item failed: %s\n", e.what());
    }
  }

  pool.stop();                       // close, wait for every job, emit the shutdown signals
  auto info = pool.info();
  std::printf("succeeded %zu, failed %zu, terminated %zu\n", info.succeeded, info.failed, info.terminated);
  return info.succeeded == 6 && info.failed == 1 && info.terminated == 1 ? 0 : 1;
}
