// testing::leak_check (<fiberpool/testing.hpp>): silent when clean, reports what is left, waits for
// what ends late, counts from its own start, and never terminates while a test unwinds.
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <thread>

#include <fiberpool/testing.hpp>

#include "support.hpp"

using namespace fiberpool_test;
using fiberpool::testing::leak_check;
using fiberpool::testing::leak_report;

namespace {

// A pool with one job blocked in a wait: the fibers, job record, stack and runtime a test leaks
// when it forgets to stop a pool. release() ends it all.
struct blocked_pool {
  std::unique_ptr<fiberpool::task_pool> pool;
  fiberpool::event started;
  fiberpool::event gate;
  std::optional<fiberpool::job<void>> job;

  void make(std::size_t threads) {
    pool = std::make_unique<fiberpool::task_pool>(pool_opts(threads));
    pool->start();
    job = pool->apply([this] {
      started.set();
      gate.wait();
    });
    started.wait();  // running: its fiber and stack exist, not just its record
  }
  void release() {
    gate.set();
    job->get();
    job.reset();
    pool->stop();
    pool.reset();
  }
};

// Runs one job to its end on a pool made and destroyed here.
void run_one_job(std::size_t threads) {
  fiberpool::task_pool pool(pool_opts(threads));
  pool.start();
  CHECK(pool.apply([] { return 6 * 7; }).get() == 42);
  pool.stop();
}

}  // namespace

TEST_CASE("leak_check is silent when the test released everything it made") {
  with_threads([](std::size_t threads) {
    bool reported = false;
    {
      leak_check check(patience, [&](const leak_report&) { reported = true; });
      run_one_job(threads);
    }
    CHECK_FALSE(reported);
    // The default handler: nothing to throw.
    CHECK_NOTHROW([&] {
      leak_check check;
      run_one_job(threads);
    }());
  });
}

TEST_CASE("leak_check reports a pool left alive with a blocked job, with the counts left") {
  with_threads([](std::size_t threads) {
    blocked_pool left;
    std::optional<leak_report> report;
    fiberpool::diagnostics::counters start, before_end;
    {
      start = fiberpool::diagnostics::snapshot();
      leak_check check(20ms, [&](const leak_report& r) { report = r; });
      left.make(threads);
      before_end = fiberpool::diagnostics::snapshot();
    }
    REQUIRE(report.has_value());
    // Exactly what the pool holds: its job's fiber and record, its stacks, its runtime (and the
    // runtime's own fibers), which nothing else in this test moves.
    CHECK(report->leaked.fibers == before_end.fibers - start.fibers);
    CHECK(report->leaked.job_records == before_end.job_records - start.job_records);
    CHECK(report->leaked.stacks_in_use == before_end.stacks_in_use - start.stacks_in_use);
    CHECK(report->leaked.runtimes == 1);
    CHECK(report->leaked.fibers >= 1);
    CHECK(report->leaked.job_records == 1);
    CHECK(report->leaked.stacks_in_use >= 1);
    CHECK(report->leaked.stacks_cached == 0);
    CHECK(report->at_start.runtimes == start.runtimes);
    CHECK(report->at_end.runtimes == start.runtimes + 1);
    CHECK(report->waited == 20ms);
    CHECK(report->message.find("1 job record,") != std::string::npos);
    CHECK(report->message.find("1 runtime more than at its start") != std::string::npos);
    CHECK(report->message.find("construct the leak_check first") != std::string::npos);
    left.release();
  });
}

TEST_CASE("leak_check's default handler throws fiberpool::error that says what is left") {
  with_threads([](std::size_t threads) {
    blocked_pool left;
    auto leaky_test = [&] {
      leak_check check(10ms);
      left.make(threads);
    };
    CHECK_THROWS_WITH_AS(leaky_test(), doctest::Contains("1 job record,"), fiberpool::error);
    left.release();
  });
}

TEST_CASE("leak_check waits up to its grace for what ends on another thread after the test") {
  with_threads([](std::size_t threads) {
    bool reported = false;
    std::thread late_stopper;
    {
      leak_check check(patience, [&](const leak_report&) { reported = true; });
      auto left = std::make_shared<blocked_pool>();
      left->make(threads);
      // Still alive when the check starts waiting, unless this machine is very slow (then the test
      // checks less, but cannot fail for it).
      late_stopper = std::thread([left] {
        std::this_thread::sleep_for(100ms);
        left->release();
      });
    }
    late_stopper.join();
    CHECK_FALSE(reported);
  });
}

TEST_CASE("leak_check counts from its own start: a pool that outlives it is no leak") {
  with_threads([](std::size_t threads) {
    fiberpool::task_pool older(pool_opts(threads));
    older.start();
    bool reported = false;
    {
      leak_check check(patience, [&](const leak_report&) { reported = true; });
      CHECK(older.apply([] { return 1; }).get() == 1);
      run_one_job(threads);
    }
    CHECK_FALSE(reported);
    older.stop();
  });
}

TEST_CASE("leak_check logs instead of throwing while the test's own exception unwinds") {
  with_threads([](std::size_t threads) {
    logger_guard guard;
    log_capture capture;
    fiberpool::set_logger(capture.logger());
    blocked_pool left;
    std::string caught;
    try {
      leak_check check(10ms);
      left.make(threads);
      throw std::runtime_error("the test failed");
    } catch (const std::runtime_error& e) {  // std::terminate instead would end the whole suite
      caught = e.what();
    }
    CHECK(caught == "the test failed");
    const auto text = capture.text();
    CHECK(text.find("error fiberpool::testing::leak_check: ") != std::string::npos);
    CHECK(text.find("1 job record,") != std::string::npos);
    CHECK(text.find("found while an exception was unwinding the test") != std::string::npos);
    left.release();
  });
}

TEST_CASE("leak_check's on_leak: what it throws leaves the check, and is logged while unwinding") {
  with_threads([](std::size_t threads) {
    blocked_pool left;
    auto leaky_test = [&] {
      leak_check check(10ms, [](const leak_report& r) { throw std::logic_error("on_leak: " + r.message); });
      left.make(threads);
    };
    CHECK_THROWS_WITH_AS(leaky_test(), doctest::Contains("on_leak: fiberpool::testing::leak_check"), std::logic_error);
    left.release();

    blocked_pool left_again;  // a fresh one: the first one's events are set
    logger_guard guard;
    log_capture capture;
    fiberpool::set_logger(capture.logger());
    bool called = false;
    std::string caught;
    try {
      leak_check check(10ms, [&](const leak_report&) {
        called = true;
        throw std::logic_error("boom from on_leak");
      });
      left_again.make(threads);
      throw std::runtime_error("the test failed");
    } catch (const std::runtime_error& e) {
      caught = e.what();
    }
    CHECK(called);
    CHECK(caught == "the test failed");
    CHECK(capture.text().find("on_leak threw: boom from on_leak") != std::string::npos);
    left_again.release();
  });
}
