// What a new user meets on the first day: failures nobody waits for are logged, waits on a pool
// never started say so, a swallowed kill is logged once, stop_for() keeps its grace.
#include <atomic>
#include <chrono>
#include <future>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "support.hpp"

using namespace fiberpool;
using namespace fiberpool_test;

namespace {

// capturing_pool_opts: a pool that logs into `capture`.
pool_options capturing_pool_opts(std::size_t threads, const log_capture& capture, std::size_t limit = 1000) {
  auto o = pool_opts(threads, limit);
  o.name = "first-day";
  o.logger = capture.logger();
  return o;
}

}  // namespace

TEST_CASE("a failed job nobody waits for is logged once at error level with id, name, group, type and what()") {
  with_threads([](std::size_t threads) {
    log_capture capture;
    task_pool pool(capturing_pool_opts(threads, capture));
    pool.start();
    job_options o;
    o.name = "parse";
    o.group = "batch";
    const job_id id = pool.apply(o, [] { throw std::runtime_error("bad input"); }).id();
    auto ok = pool.apply([] { return 1; });
    pool.stop();
    const auto text = capture.text();
    CAPTURE(text);
    const std::string line = "error fiberpool: job " + std::to_string(id) +
                             " (parse) in pool 'first-day', group 'batch' failed: std::runtime_error: bad input";
    CHECK(count_of(text, line) == 1);
    CHECK(count_of(text, "error ") == 1);  // only the failed job
    CHECK(ok.state() == job_state::succeeded);
  });
}

TEST_CASE("log_failures = false: a failure is not logged at error level, still counted") {
  with_threads([](std::size_t threads) {
    log_capture capture;
    auto o = capturing_pool_opts(threads, capture);
    o.log_failures = false;
    task_pool pool(o);
    pool.start();
    auto j = pool.apply([] { throw std::logic_error("quiet"); });
    pool.stop();
    const auto text = capture.text();
    CAPTURE(text);
    CHECK(count_of(text, "error ") == 0);
    CHECK(count_of(text, "quiet") == 0);  // debug lines are compiled out of release builds
    CHECK(j.state() == job_state::failed);
    CHECK(pool.info().failed == 1);
  });
}

TEST_CASE("job_failed fires once per failed job, with its exception, and not for other ends") {
  with_threads([](std::size_t threads) {
    log_capture capture;
    task_pool pool(capturing_pool_opts(threads, capture));
    std::mutex mu;
    std::vector<std::pair<job_id, std::string>> failed;
    pool.signals().job_failed.connect([&](task_pool&, job_id id, std::exception_ptr e) {
      std::string what;
      try {
        std::rethrow_exception(e);
      } catch (const std::exception& ex) {
        what = ex.what();
      }
      std::lock_guard lk(mu);
      failed.emplace_back(id, what);
    });
    pool.start();
    event hold;
    auto bad = pool.apply([] { throw std::runtime_error("boom"); });
    auto good = pool.apply([] { return 2; });
    auto killed = pool.apply([&] { hold.wait(); });
    REQUIRE(eventually([&] { return killed.state() == job_state::running; }));
    pool.terminate_job(killed.id());
    pool.stop();
    std::lock_guard lk(mu);
    REQUIRE(failed.size() == 1);
    CHECK(failed[0].first == bad.id());
    CHECK(failed[0].second == "boom");
    CHECK(killed.state() == job_state::terminated);
  });
}

TEST_CASE("get() on a job of a pool never started warns within about a second, and works once started") {
  with_threads([](std::size_t threads) {
    log_capture capture;
    task_pool pool(capturing_pool_opts(threads, capture));
    auto j = pool.apply([] { return 5; });
    std::promise<int> got;
    auto result = got.get_future();
    std::thread waiter([&] { got.set_value(j.get()); });
    REQUIRE(eventually([&] { return count_of(capture.text(), "never started") > 0; }));
    CHECK(result.wait_for(0s) == std::future_status::timeout);  // a warning, not a failure
    pool.start();
    REQUIRE(result.wait_for(patience) == std::future_status::ready);
    waiter.join();
    CHECK(result.get() == 5);
    const auto text = capture.text();
    CAPTURE(text);
    CHECK(count_of(text, "warning fiberpool: a job's get()/wait() has waited") == 1);
    CHECK(count_of(text, "job " + std::to_string(j.id()) + " of pool 'first-day', which was never started") == 1);
    CHECK(count_of(text, "call start()") == 1);
    pool.stop();
  });
}

TEST_CASE("waitall() on a pool never started warns once, and a pool started in time never warns") {
  with_threads([](std::size_t threads) {
    log_capture capture;
    task_pool pool(capturing_pool_opts(threads, capture));
    pool.apply([] {});
    std::thread waiter([&] { pool.waitall(); });
    REQUIRE(eventually([&] { return count_of(capture.text(), "never started") > 0; }));
    pool.start();
    waiter.join();
    CHECK(count_of(capture.text(), "warning fiberpool: waitall() has waited") == 1);
    pool.stop();

    log_capture quiet;
    task_pool started(capturing_pool_opts(threads, quiet));
    started.start();
    event release;
    auto j = started.apply([&] { release.wait(); });
    std::thread releaser([&] {
      std::this_thread::sleep_for(1500ms);  // longer than the nag: a started pool must not nag
      release.set();
    });
    j.get();
    started.waitall();
    releaser.join();
    CHECK(count_of(quiet.text(), "never started") == 0);
    started.stop();
  });
}

TEST_CASE("a kill swallowed by catch (...) in a retry loop is logged once per job") {
  with_threads([](std::size_t threads) {
    log_capture capture;
    task_pool pool(capturing_pool_opts(threads, capture));
    pool.start();
    std::atomic<int> swallowed{0};
    event looping;
    job_options o;
    o.name = "retry";
    auto j = pool.apply(o, [&] {
      looping.set();
      for (;;) {
        try {
          this_job::sleep_for(1ms);
        } catch (...) {  // the kill is caught and the loop retries: 200 times
          if (++swallowed == 200) return;
        }
      }
    });
    REQUIRE(looping.wait_for(patience));
    CHECK(pool.terminate_job(j.id()));
    j.wait();
    CHECK(j.state() == job_state::terminated);  // the kill is sticky
    CHECK(swallowed == 200);
    pool.stop();
    const auto text = capture.text();
    CAPTURE(text);
    CHECK(count_of(text, "job " + std::to_string(j.id()) + " (retry) in pool 'first-day' caught its kill") == 1);
    CHECK(count_of(text, "caught its kill") == 1);
  });
}

TEST_CASE("stop_for() returns by its grace while a job spins without a cancellation point; the destructor waits") {
  with_threads([](std::size_t threads) {
    log_capture capture;
    std::atomic<bool> release{false};
    event spinning;
    auto pool = std::make_unique<task_pool>(capturing_pool_opts(threads, capture));
    pool->start();
    job_options o;
    o.name = "spin";
    auto j = pool->apply(o, [&] {
      spinning.set();
      while (!release.load()) {
      }  // no cancellation point: a kill cannot reach it
    });
    REQUIRE(spinning.wait_for(patience));
    const bool in_time = pool->stop_for(50ms);
    // It returned although the job cannot have ended: nothing but `release` ends it.
    CHECK_FALSE(in_time);
    CHECK_FALSE(j.done());
    CHECK(pool->state() == pool_state::closed);
    CHECK_THROWS_AS(pool->apply([] {}), pool_closed);
    const std::string left = "1 job: job " + std::to_string(j.id()) + " (spin)";
    CHECK(count_of(capture.text(), "stop_for() returns with " + left) == 1);

    // The destructor finishes the shutdown: it waits for the job and says which one it waits for.
    std::thread destroyer([&] { pool.reset(); });
    const bool logged = eventually([&] { return count_of(capture.text(), "terminate() waits for " + left) > 0; });
    CHECK(logged);
    release.store(true);
    destroyer.join();
    CHECK(j.state() == job_state::terminated);  // the kill is sticky
    CHECK(count_of(capture.text(), "pool 'first-day' stopped") == 1);
  });
}

TEST_CASE("stop_for() after a stop_for() that gave up finishes the shutdown once the job can unwind") {
  with_threads([](std::size_t threads) {
    log_capture capture;
    task_pool pool(capturing_pool_opts(threads, capture));
    std::atomic<int> postshutdown{0};
    pool.signals().pool_postshutdown.connect([&](task_pool&) { ++postshutdown; });
    std::atomic<int> preshutdown{0};
    pool.signals().pool_preshutdown.connect([&](task_pool&) { ++preshutdown; });
    pool.start();
    std::atomic<bool> release{false};
    event spinning;
    auto j = pool.apply([&] {
      spinning.set();
      while (!release.load()) {
      }
      this_job::check_cancelled();  // the pending kill lands here
    });
    REQUIRE(spinning.wait_for(patience));
    CHECK_FALSE(pool.stop_for(10ms));
    release.store(true);
    REQUIRE(j.wait_for(patience));
    CHECK(pool.stop_for(patience));  // nothing left: it completes the shutdown at once
    CHECK(pool.state() == pool_state::stopped);
    CHECK(preshutdown == 1);
    CHECK(postshutdown == 1);
    CHECK(j.state() == job_state::terminated);
  });
}
