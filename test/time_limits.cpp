// time_limits: soft limits (catchable soft_time_limit_exceeded), hard limits (time_limit_exceeded
// kills), job_options overriding pool_options, and limits of jobs that end in time.
#include <atomic>
#include <chrono>
#include <future>
#include <optional>
#include <stdexcept>
#include <thread>
#include <type_traits>

#include "support.hpp"

using namespace fiberpool;
using namespace fiberpool_test;

static_assert(std::is_base_of_v<job_terminated, time_limit_exceeded>);
static_assert(std::is_base_of_v<error, soft_time_limit_exceeded>);

namespace {

// finishes_within_patience: runs fn on a helper thread; false if it has not returned within
// patience (it is then waited for anyway). Turns a long hang into a failure.
template <class F>
bool finishes_within_patience(F fn) {
  auto result = std::async(std::launch::async, fn);
  const bool in_time = result.wait_for(patience) == std::future_status::ready;
  result.get();
  return in_time;
}

pool_options with_limits(std::size_t threads, std::optional<clock::duration> soft,
                         std::optional<clock::duration> hard) {
  auto o = pool_opts(threads);
  o.soft_time_limit = soft;
  o.hard_time_limit = hard;
  return o;
}

job_options job_limits(std::optional<clock::duration> soft, std::optional<clock::duration> hard) {
  job_options o;
  o.soft_time_limit = soft;
  o.hard_time_limit = hard;
  return o;
}

// A limit no test job reaches, and a job body that outlives a short limit if nothing stops it.
constexpr auto far = std::chrono::hours(1);
constexpr auto short_limit = std::chrono::milliseconds(20);
void sleep_past_short_limit() { this_job::sleep_for(200ms); }

}  // namespace

TEST_CASE("a soft time limit raises soft_time_limit_exceeded at a sleep; a job that catches it succeeds") {
  with_threads([](std::size_t threads) {
    task_pool pool(pool_opts(threads));
    pool.start();
    auto j = pool.apply(job_limits(50ms, std::nullopt), [] {
      bool caught = false;
      try {
        this_job::sleep_for(patience);
      } catch (const soft_time_limit_exceeded&) {
        caught = true;
      }
      // Raised once: the job goes on through further cancellation points.
      this_job::yield();
      this_job::sleep_for(1ms);
      return caught;
    });
    REQUIRE(j.wait_for(2 * patience));
    CHECK(j.state() == job_state::succeeded);
    CHECK(j.get());
  });
}

TEST_CASE("a soft time limit is raised by check_cancelled() in a CPU loop") {
  with_threads([](std::size_t threads) {
    task_pool pool(pool_opts(threads));
    pool.start();
    auto j = pool.apply(job_limits(20ms, std::nullopt), [] {
      const auto deadline = clock::now() + patience;  // bounded, so a missing limit fails, not hangs
      while (clock::now() < deadline) {
        try {
          this_job::check_cancelled();
        } catch (const soft_time_limit_exceeded&) {
          return true;
        }
      }
      return false;
    });
    REQUIRE(j.wait_for(2 * patience));
    CHECK(j.get());
  });
}

TEST_CASE("an uncaught soft time limit fails the job and get() rethrows soft_time_limit_exceeded") {
  with_threads([](std::size_t threads) {
    task_pool pool(pool_opts(threads));
    pool.start();
    std::atomic<bool> returned{false};
    auto j = pool.apply(job_limits(50ms, std::nullopt), [&] {
      this_job::sleep_for(patience);
      returned = true;
      return 1;
    });
    REQUIRE(j.wait_for(2 * patience));
    CHECK(j.state() == job_state::failed);
    CHECK_THROWS_AS(j.get(), soft_time_limit_exceeded);
    CHECK_FALSE(returned);
    CHECK(pool.info().failed == 1);
  });
}

TEST_CASE("a hard time limit kills a sleeping job: terminated, and get() throws time_limit_exceeded") {
  with_threads([](std::size_t threads) {
    task_pool pool(pool_opts(threads));
    pool.start();
    std::atomic<bool> caught_as_std_exception{false}, returned{false};
    std::atomic<job_state> ended_as{job_state::queued};
    auto opts = job_limits(std::nullopt, 50ms);
    opts.on_ended = [&](job_id, job_state s, std::exception_ptr) { ended_as = s; };
    auto j = pool.apply(opts, [&] {
      try {
        this_job::sleep_for(patience);
      } catch (const std::exception&) {
        caught_as_std_exception = true;
      }
      returned = true;
      return 1;
    });
    REQUIRE(j.wait_for(2 * patience));
    CHECK(j.state() == job_state::terminated);
    CHECK(ended_as.load() == job_state::terminated);
    CHECK_THROWS_AS(j.get(), time_limit_exceeded);
    CHECK_THROWS_AS(j.get(), job_terminated);
    CHECK_FALSE(caught_as_std_exception);
    CHECK_FALSE(returned);
    CHECK(pool.info().terminated == 1);
  });
}

TEST_CASE("a job that catches its soft limit is still killed by its hard limit") {
  with_threads([](std::size_t threads) {
    task_pool pool(pool_opts(threads));
    pool.start();
    std::atomic<bool> caught_soft{false};
    // The gap between the limits is wide so that, on a loaded machine, the soft limit is still
    // raised before the hard one replaces it.
    auto j = pool.apply(job_limits(20ms, 3s), [&] {
      try {
        this_job::sleep_for(patience);
      } catch (const soft_time_limit_exceeded&) {
        caught_soft = true;
      }
      this_job::sleep_for(patience);
      return 1;
    });
    REQUIRE(j.wait_for(3 * patience));
    CHECK(caught_soft);
    CHECK(j.state() == job_state::terminated);
    CHECK_THROWS_AS(j.get(), time_limit_exceeded);
  });
}

TEST_CASE("pool_options time limits apply to every job that does not override them") {
  with_threads([](std::size_t threads) {
    task_pool soft_pool(with_limits(threads, short_limit, std::nullopt));
    task_pool hard_pool(with_limits(threads, std::nullopt, short_limit));
    soft_pool.start();
    hard_pool.start();
    auto soft = soft_pool.apply([] { this_job::sleep_for(patience); });
    auto hard = hard_pool.apply([] { this_job::sleep_for(patience); });
    REQUIRE(soft.wait_for(2 * patience));
    REQUIRE(hard.wait_for(2 * patience));
    CHECK(soft.state() == job_state::failed);
    CHECK_THROWS_AS(soft.get(), soft_time_limit_exceeded);
    CHECK(hard.state() == job_state::terminated);
    CHECK_THROWS_AS(hard.get(), time_limit_exceeded);
  });
}

TEST_CASE("job_options time limits override the pool's, both longer and shorter") {
  with_threads([](std::size_t threads) {
    task_pool short_pool(with_limits(threads, short_limit, short_limit));
    task_pool long_pool(with_limits(threads, far, far));
    short_pool.start();
    long_pool.start();

    // Longer limits: the job outlives the pool's short ones.
    auto longer = short_pool.apply(job_limits(far, far), [] {
      sleep_past_short_limit();
      return 1;
    });
    // Shorter limits: each one, alone, cuts a job of the long pool short.
    auto shorter_soft = long_pool.apply(job_limits(short_limit, std::nullopt), [] {
      this_job::sleep_for(patience);
    });
    auto shorter_hard = long_pool.apply(job_limits(std::nullopt, short_limit), [] {
      this_job::sleep_for(patience);
    });

    REQUIRE(longer.wait_for(2 * patience));
    REQUIRE(shorter_soft.wait_for(2 * patience));
    REQUIRE(shorter_hard.wait_for(2 * patience));
    CHECK(longer.state() == job_state::succeeded);
    CHECK(longer.get() == 1);
    CHECK(shorter_soft.state() == job_state::failed);
    CHECK_THROWS_AS(shorter_soft.get(), soft_time_limit_exceeded);
    CHECK(shorter_hard.state() == job_state::terminated);
    CHECK_THROWS_AS(shorter_hard.get(), time_limit_exceeded);
  });
}

TEST_CASE("a job that ends before its limits is unaffected and leaves nothing armed") {
  with_threads([](std::size_t threads) {
    // Limits long enough that a preempted thread cannot make these instant jobs overrun them.
    task_pool pool(with_limits(threads, 2s, 3s));
    pool.start();
    auto quick = pool.apply([] { return 1; });
    CHECK(quick.get() == 1);
    // Past both limits: nothing may fire for a job that has ended.
    std::this_thread::sleep_for(3500ms);
    CHECK(quick.state() == job_state::succeeded);
    CHECK(quick.get() == 1);
    CHECK(pool.apply([] { return 2; }).get() == 2);
    quick = {};

    // Far limits: an armed timer must not keep the ended job's record alive, nor delay stop().
    CHECK(pool.apply(job_limits(far, far), [] { return 3; }).get() == 3);
    CHECK(eventually([] { return diagnostics::snapshot().job_records == 0; }));
    auto info = pool.info();
    CHECK(info.succeeded == 3);
    CHECK(info.failed == 0);
    CHECK(info.terminated == 0);
    CHECK(finishes_within_patience([&] { pool.stop(); }));
  });
}
