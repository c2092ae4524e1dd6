// <fiberpool/doctest.hpp>: a kill that escapes a doctest case or assertion reads
// "job_terminated(signal N): ..." in doctest's own report, not "unknown exception".
//
// This suite has its own main: before the real run, it runs the cases of the suite "escaping
// kills" (which the real run skips) in a doctest context of their own, with the report written to
// a string; the real run's cases then check that report. That is doctest's actual output path:
// its registered translators, its console reporter.
#define DOCTEST_CONFIG_IMPLEMENT
#include <fiberpool/doctest.hpp>

#include <sstream>
#include <string>

#include "support.hpp"

using namespace fiberpool_test;

namespace {

std::string escaped_report;  // what doctest printed for the "escaping kills" cases
int escaped_result = 0;      // what that run returned (non-zero: its cases failed, as they must)

// Waits in a job of a pool until the job is killed with `signal`, and returns the job's handle.
fiberpool::job<void> killed_job(fiberpool::task_pool& pool, int signal) {
  fiberpool::event started;
  fiberpool::event never;
  auto j = pool.apply([&] {
    started.set();
    never.wait();
  });
  started.wait();
  pool.terminate_job(j.id(), signal);
  j.wait();
  return j;
}

}  // namespace

// The cases whose kills escape. Each fails on purpose; only the nested run in main() runs them.
TEST_SUITE("escaping kills" * doctest::skip()) {
  TEST_CASE("a kill escapes the test case") {
    fiberpool::task_pool pool(pool_opts(1));
    pool.start();
    killed_job(pool, SIGTERM).get();  // throws job_terminated(SIGTERM)
  }

  TEST_CASE("a hard time limit's kill escapes the test case") {
    fiberpool::task_pool pool(pool_opts(2));
    pool.start();
    fiberpool::job_options limited;
    limited.hard_time_limit = 10ms;
    fiberpool::event never;
    pool.apply(limited, [&] { never.wait(); }).get();  // throws time_limit_exceeded(SIGKILL)
  }

  TEST_CASE("a kill escapes a CHECK_NOTHROW") {
    fiberpool::task_pool pool(pool_opts(2));
    pool.start();
    auto j = killed_job(pool, SIGINT);
    CHECK_NOTHROW(j.get());
  }
}

TEST_CASE("describe and the doctest translator give the signal and what()") {
  CHECK(fiberpool::testing::describe(fiberpool::job_terminated(SIGTERM)) ==
        "job_terminated(signal 15): fiberpool: job terminated");
  CHECK(fiberpool::testing::describe(fiberpool::time_limit_exceeded()) ==
        "job_terminated(signal 9): fiberpool: hard time limit exceeded");
  CHECK(fiberpool::testing::doctest_translation(fiberpool::job_terminated(SIGHUP)) ==
        doctest::String("job_terminated(signal 1): fiberpool: job terminated"));
}

TEST_CASE("a kill that escapes a test case reads job_terminated(signal 15) in doctest's report") {
  INFO("the nested run printed:\n", escaped_report);
  CHECK(escaped_result != 0);
  CHECK(escaped_report.find("test case THREW exception: job_terminated(signal 15): fiberpool: job terminated") !=
        std::string::npos);
  CHECK(escaped_report.find("unknown exception") == std::string::npos);
}

TEST_CASE("a hard time limit's kill reads job_terminated(signal 9) in doctest's report") {
  INFO("the nested run printed:\n", escaped_report);
  CHECK(escaped_report.find("test case THREW exception: job_terminated(signal 9): fiberpool: hard time limit exceeded") !=
        std::string::npos);
}

TEST_CASE("a kill in a CHECK_NOTHROW reads job_terminated(signal 2) in doctest's report") {
  INFO("the nested run printed:\n", escaped_report);
  CHECK(escaped_report.find("CHECK_NOTHROW( j.get() ) THREW exception: \"job_terminated(signal 2): fiberpool: job terminated\"") !=
        std::string::npos);
}

TEST_CASE("the escaping cases left nothing behind") {
  check_no_leaks();
}

int main(int argc, char** argv) {
  {
    std::ostringstream out;
    doctest::Context escaping;
    escaping.setOption("test-suite", "escaping kills");
    escaping.setOption("no-skip", true);
    escaping.setOption("no-colors", true);
    escaping.setOption("no-path-filenames", true);
    escaping.setCout(&out);
    escaped_result = escaping.run();
    escaped_report = out.str();
  }
  doctest::Context context;
  context.applyCommandLine(argc, argv);
  context.addFilter("test-suite-exclude", "escaping kills");
  return context.run();
}
