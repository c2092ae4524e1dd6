// A downstream project's unit tests (the README's "Using fiberpool in your unit tests" quotes this
// file): doctest, a leak check in every test, and kills that read as kills in doctest's report.
#define DOCTEST_CONFIG_IMPLEMENT_WITH_MAIN
#include <doctest/doctest.h>

#include <csignal>

#include <fiberpool/doctest.hpp>   // a job_terminated escaping a test reads "job_terminated(signal 15): ..."
#include <fiberpool/fiberpool.hpp>
#include <fiberpool/testing.hpp>   // testing::leak_check

TEST_CASE("a job's result comes back, and the test leaves no fiber behind") {
  fiberpool::testing::leak_check no_leaks;  // first: it checks when it is destroyed, after the pool
  fiberpool::task_pool pool;
  pool.start();
  CHECK(pool.apply([](int a, int b) { return a * b; }, 6, 7).get() == 42);
  pool.stop();
}

TEST_CASE("a killed job's get() throws job_terminated with the signal") {
  fiberpool::testing::leak_check no_leaks;
  fiberpool::task_pool pool;
  pool.start();
  fiberpool::event started, never;
  auto stuck = pool.apply([&] {
    started.set();
    never.wait();  // a cancellation point: the kill reaches the job here
  });
  started.wait();
  pool.terminate_job(stuck.id(), SIGTERM);
  try {
    stuck.get();
    FAIL("get() of a killed job returned");
  } catch (const fiberpool::job_terminated& kill) {  // not a std::exception, on purpose
    CHECK(kill.signal() == SIGTERM);
  }
  pool.stop();
}

// What a kill that nobody catches looks like in doctest's report: should_fail() makes this case
// pass by failing, and test/consumer/run.sh checks that the report says
// "test case THREW exception: job_terminated(signal 15): fiberpool: job terminated".
TEST_CASE("a kill that escapes a test case is reported by name" * doctest::should_fail()) {
  fiberpool::testing::leak_check no_leaks;
  fiberpool::task_pool pool;
  pool.start();
  fiberpool::event started, never;
  auto stuck = pool.apply([&] {
    started.set();
    never.wait();
  });
  started.wait();
  pool.terminate_job(stuck.id(), SIGTERM);
  stuck.get();  // throws job_terminated; the pool's destructor stops the pool as it unwinds
}
