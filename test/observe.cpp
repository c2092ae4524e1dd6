// Observability (issue 13): where each job waits (job_info::waiting_on, dump_jobs()), pool and
// runtime stats with Prometheus-style histograms, and prometheus_text().
#include <algorithm>
#include <atomic>
#include <chrono>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include <unistd.h>

#include "support.hpp"

using namespace fiberpool_test;

namespace {

std::optional<fiberpool::job_info> info_of(const fiberpool::task_pool& pool, fiberpool::job_id id) {
  for (auto& j : pool.jobs())
    if (j.id == id) return j;
  return std::nullopt;
}

// waits_on: polls the job's info until it shows a wait (no primitive reports "now parked").
std::string waits_on(const fiberpool::task_pool& pool, fiberpool::job_id id) {
  std::string what;
  CHECK(eventually([&] {
    auto j = info_of(pool, id);
    if (j && !j->waiting_on.empty()) what = j->waiting_on;
    return !what.empty();
  }));
  return what;
}

bool starts_with(const std::string& s, const std::string& prefix) { return s.rfind(prefix, 0) == 0; }

void check_histogram_shape(const fiberpool::histogram& h) {
  REQUIRE(h.upper_bounds.size() == h.counts.size());
  REQUIRE(!h.upper_bounds.empty());
  CHECK(std::isinf(h.upper_bounds.back()));
  CHECK(h.counts.back() == h.count);
  CHECK(std::is_sorted(h.upper_bounds.begin(), h.upper_bounds.end()));
  CHECK(std::is_sorted(h.counts.begin(), h.counts.end()));  // cumulative
  CHECK(h.upper_bounds.front() == doctest::Approx(1e-6));
}

}  // namespace

TEST_CASE("job_info says what a suspended job waits on, since when, and clears it when it runs again") {
  with_threads([](std::size_t threads) {
    fiberpool::task_pool pool(pool_opts(threads));
    pool.start();
    fiberpool::event ev;
    fiberpool::semaphore sem(0);
    fiberpool::channel<int> ch(1);
    int fds[2];
    REQUIRE(::pipe(fds) == 0);
    const auto before = fiberpool::clock::now();

    auto on_event = pool.apply([&] { ev.wait(); });
    auto on_sem = pool.apply([&] { sem.acquire(); });
    auto on_channel = pool.apply([&] { return ch.pop().value_or(-1); });
    auto sleeper = pool.apply([] { fiberpool::this_job::sleep_for(std::chrono::hours(1)); });
    auto reader = pool.apply([&] { fiberpool::io::wait_readable(fds[0]); });
    auto on_job = pool.apply([&] { on_event.get(); });

    const std::string ev_what = waits_on(pool, on_event.id());
    CHECK(starts_with(ev_what, "event @"));
    CHECK(starts_with(waits_on(pool, on_sem.id()), "semaphore @"));
    CHECK(starts_with(waits_on(pool, on_channel.id()), "channel pop @"));
    CHECK(waits_on(pool, sleeper.id()) == "sleep");
    CHECK(waits_on(pool, reader.id()) == "read fd " + std::to_string(fds[0]));
    CHECK(waits_on(pool, on_job.id()) == "job " + std::to_string(on_event.id()));

    auto ev_info = info_of(pool, on_event.id());
    REQUIRE(ev_info);
    REQUIRE(ev_info->waiting_since);
    // Counted back from the CPU's counter, whose rate is calibrated roughly: a little slack.
    CHECK(*ev_info->waiting_since >= before - 50ms);
    CHECK(*ev_info->waiting_since <= fiberpool::clock::now());
    CHECK_FALSE(ev_info->waiting_until);  // ev.wait() has no deadline
    auto sleep_info = info_of(pool, sleeper.id());
    REQUIRE(sleep_info);
    REQUIRE(sleep_info->waiting_until);  // a sleep's deadline is its end
    CHECK(*sleep_info->waiting_until > fiberpool::clock::now() + std::chrono::minutes(30));

    // Two waits on the same event show the same text: an operator can match them.
    auto second = pool.apply([&] { ev.wait(); });
    CHECK(waits_on(pool, second.id()) == ev_what);

    // A job that runs again waits on nothing; one that parks elsewhere shows the new wait.
    fiberpool::event hold;
    auto moves_on = pool.apply([&] {
      sem.acquire();
      hold.wait();
    });
    CHECK(starts_with(waits_on(pool, moves_on.id()), "semaphore @"));
    sem.release();
    sem.release();
    CHECK(eventually([&] {
      auto j = info_of(pool, moves_on.id());
      return j && starts_with(j->waiting_on, "event @") && j->waiting_on != ev_what;
    }));

    ev.set();
    ch.push(7);
    hold.set();
    REQUIRE(::write(fds[1], "x", 1) == 1);
    CHECK(on_channel.get() == 7);
    on_event.get();
    on_job.get();
    reader.get();
    pool.terminate_job(sleeper.id());
    pool.waitall();
    CHECK(pool.jobs().empty());
    ::close(fds[0]);
    ::close(fds[1]);
    pool.stop();
  });
}

TEST_CASE("a job waiting for room in a full pool shows it") {
  with_threads([](std::size_t threads) {
    auto o = pool_opts(threads, 1);
    o.max_queued = 0;
    o.on_overflow = fiberpool::overflow::block;
    fiberpool::task_pool pool(o);
    fiberpool::task_pool feeder(pool_opts(threads));
    pool.start();
    feeder.start();
    fiberpool::event release;
    auto holder = pool.apply([&] { release.wait(); });
    auto applier = feeder.apply([&] { pool.apply([] {}).get(); });
    CHECK(starts_with(waits_on(feeder, applier.id()), "apply: room in pool @"));
    release.set();
    applier.get();
    holder.get();
    pool.stop();
    feeder.stop();
  });
}

TEST_CASE("pool stats count applied, started, inline and rejected jobs, and time their queue wait and run") {
  with_threads([](std::size_t threads) {
    auto o = pool_opts(threads, 1);
    o.max_queued = 1;
    o.on_overflow = fiberpool::overflow::reject;
    fiberpool::task_pool pool(o);
    pool.start();
    auto s0 = pool.stats();
    CHECK(s0.applied == 0);
    CHECK(s0.run_seconds.count == 0);
    check_histogram_shape(s0.run_seconds);

    fiberpool::event release;
    auto first = pool.apply([&] { release.wait(); });
    auto queued = pool.apply([] {});
    CHECK_THROWS_AS(pool.apply([] {}), fiberpool::pool_full);
    // Once the first job waits, it runs and the queued job waits at least this long: lower bounds,
    // which a loaded machine only raises.
    REQUIRE(eventually([&] { return !pool.jobs().empty() && !pool.jobs().front().waiting_on.empty(); }));
    std::this_thread::sleep_for(20ms);
    release.set();
    first.get();
    queued.get();
    // A job applying into its own full pool runs its child inline.
    pool.apply([&] { pool.apply([] {}).get(); }).get();
    pool.waitall();

    auto s = pool.stats();
    CHECK(s.applied == 4);
    CHECK(s.started == 4);
    CHECK(s.inline_runs == 1);
    CHECK(s.rejected == 1);
    CHECK(s.info.succeeded == 4);
    check_histogram_shape(s.queue_wait_seconds);
    check_histogram_shape(s.run_seconds);
    CHECK(s.queue_wait_seconds.count == 4);  // one per start
    CHECK(s.run_seconds.count == 4);         // one per started job that ended
    CHECK(s.queue_wait_seconds.sum >= 0.020);
    // The first job ran until released; run times are read from the CPU's counter, whose rate is
    // calibrated roughly (lib/base/tick_clock.hpp): 10% of slack.
    CHECK(s.run_seconds.sum >= 0.018);
    // Only the queued job waited: every other start was at once (bucket <= 1 us holds them).
    CHECK(s.queue_wait_seconds.counts.front() >= 3);
    const auto& qw = s.queue_wait_seconds;
    for (std::size_t i = 0; i < qw.upper_bounds.size(); ++i)
      if (qw.upper_bounds[i] < 0.020) CHECK(qw.counts[i] <= 3);

    // Closed and locked pools refuse too.
    pool.lock();
    CHECK_THROWS_AS(pool.apply([] {}), fiberpool::pool_locked);
    pool.unlock();
    pool.close();
    CHECK_THROWS_AS(pool.apply([] {}), fiberpool::pool_closed);
    CHECK(pool.stats().rejected == 3);
    pool.stop();
  });
}

TEST_CASE("runtime stats count switches, time how late timers fire, and see a blocked job's fiber and stack") {
  with_threads([](std::size_t threads) {
    fiberpool::task_pool pool(pool_opts(threads));
    pool.start();
    auto r0 = pool.runtime().stats();
    CHECK(r0.threads == threads);
    check_histogram_shape(r0.lag_seconds);
    std::vector<fiberpool::job<void>> jobs;
    for (int i = 0; i < 100; ++i) jobs.push_back(pool.apply([] { fiberpool::this_job::sleep_for(1ms); }));
    for (auto& j : jobs) j.get();
    fiberpool::event fired;
    pool.timer().call_after(1ms, [&] { fired.set(); });
    REQUIRE(fired.wait_for(patience));
    auto r = pool.runtime().stats();
    CHECK(r.switches >= r0.switches + 100);  // every sleeper was resumed at least once
    CHECK(r.lag_seconds.count >= r0.lag_seconds.count + 1);
    // A blocked job keeps its carrier, and its stack, while it waits.
    fiberpool::event release;
    auto blocked = pool.apply([&] { release.wait(); });
    CHECK(eventually([&] { return !pool.jobs().empty() && !pool.jobs().front().waiting_on.empty(); }));
    auto held = pool.runtime().stats();
    CHECK(held.fibers >= 1);
    CHECK(held.stacks_in_use >= 1);
    release.set();
    blocked.get();
    pool.stop();
  });
}

TEST_CASE("dump_jobs shows every live job of every pool and what it waits on") {
  with_threads([](std::size_t threads) {
    auto o = pool_opts(threads, 2);
    o.name = "dumped";
    fiberpool::task_pool pool(o);
    pool.start();
    fiberpool::event ev;
    fiberpool::job_options jo;
    jo.name = "fetch";
    jo.group = "crawl";
    auto waiting = pool.apply(jo, [&] { ev.wait(); });
    auto other = pool.apply([&] { ev.wait(); });
    auto queued = pool.apply([] {});
    waits_on(pool, waiting.id());
    waits_on(pool, other.id());
    const std::string dump = fiberpool::dump_jobs();
    CAPTURE(dump);
    CHECK(dump.find("pool \"dumped\": running, limit 2, 2 running, 1 queued") != std::string::npos);
    CHECK(dump.find("job " + std::to_string(waiting.id()) + " \"fetch\" group \"crawl\": running on thread") !=
          std::string::npos);
    CHECK(dump.find("    waiting on event @") != std::string::npos);
    CHECK(dump.find("job " + std::to_string(queued.id()) + ": queued") != std::string::npos);
    ev.set();
    pool.waitall();
    CHECK(fiberpool::dump_jobs().find("dumped") != std::string::npos);  // still alive, no jobs
    pool.stop();
  });
  CHECK(fiberpool::dump_jobs().find("dumped") == std::string::npos);  // gone with the pool
}

TEST_CASE("prometheus_text has every live pool and runtime, labelled, with unique series") {
  auto o = pool_opts(1, 3);
  o.name = "web \"edge\"";
  fiberpool::task_pool a(o);
  fiberpool::task_pool b(o);  // the same name: its series must not collide with a's
  a.start();
  b.start();
  for (int i = 0; i < 5; ++i) a.apply([] {}).get();
  const std::string text = fiberpool::prometheus_text();
  CAPTURE(text);
  CHECK(text.find("# TYPE fiberpool_pool_applied_total counter\n") != std::string::npos);
  CHECK(text.find("fiberpool_pool_applied_total{pool=\"web \\\"edge\\\"\"} 5\n") != std::string::npos);
  CHECK(text.find("fiberpool_pool_applied_total{pool=\"web \\\"edge\\\"#2\"} 0\n") != std::string::npos);
  CHECK(text.find("fiberpool_pool_limit{pool=\"web \\\"edge\\\"\"} 3\n") != std::string::npos);
  CHECK(text.find("fiberpool_pool_ended_total{pool=\"web \\\"edge\\\"\",state=\"succeeded\"} 5\n") != std::string::npos);
  CHECK(text.find("fiberpool_pool_run_seconds_bucket{pool=\"web \\\"edge\\\"\",le=\"+Inf\"} 5\n") != std::string::npos);
  CHECK(text.find("fiberpool_pool_run_seconds_count{pool=\"web \\\"edge\\\"\"} 5\n") != std::string::npos);
  CHECK(text.find("# TYPE fiberpool_runtime_lag_seconds histogram\n") != std::string::npos);
  CHECK(text.find("fiberpool_runtime_threads{runtime=") != std::string::npos);
  // Each family's TYPE line appears once (the format requires a family's samples together).
  std::size_t pos = 0, types = 0;
  while ((pos = text.find("# TYPE fiberpool_pool_applied_total ", pos)) != std::string::npos) ++types, ++pos;
  CHECK(types == 1);
  a.stop();
  b.stop();
}
