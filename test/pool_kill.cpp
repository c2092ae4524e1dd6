// pool_kill: terminate_job()/job::terminate() on queued and running jobs, the sticky job_terminated
// kill in every fiberpool wait, check_cancelled()/cancel_requested(), and terminate() of a pool.
#include <array>
#include <atomic>
#include <chrono>
#include <csignal>
#include <cstdint>
#include <functional>
#include <future>
#include <limits>
#include <optional>
#include <stdexcept>
#include <string>
#include <thread>
#include <type_traits>
#include <utility>
#include <vector>

#include "support.hpp"

using namespace fiberpool;
using namespace fiberpool_test;

static_assert(!std::is_base_of_v<std::exception, job_terminated>,
              "a kill must not be caught by catch (const std::exception&)");
static_assert(std::is_base_of_v<error, job_cancelled>);

namespace {

// kill_signal: the signal of the job_terminated that get() throws; nullopt if it throws anything
// else or nothing.
template <class R>
std::optional<int> kill_signal(job<R>& j) {
  try {
    j.get();
  } catch (const job_terminated& e) {
    return e.signal();
  } catch (...) {
  }
  return std::nullopt;
}

// ended_log: job_options whose callbacks count calls and remember the last end state.
struct ended_log {
  std::atomic<int> accepted{0};
  std::atomic<int> calls{0};
  std::atomic<job_state> last{job_state::queued};
  job_options options() {
    job_options o;
    o.on_accepted = [this](job_id) { ++accepted; };
    o.on_ended = [this](job_id, job_state s, std::exception_ptr) {
      last.store(s);
      ++calls;
    };
    return o;
  }
};

// probe: what a job blocked in a wait reports about how it left it.
struct probe {
  event started;
  std::atomic<bool> caught_as_std_exception{false};
  std::atomic<bool> returned_from_wait{false};
};

}  // namespace

TEST_CASE("terminate_job() on a queued job cancels it: it never runs and get() throws job_cancelled") {
  with_threads([](std::size_t threads) {
    std::atomic<bool> ran{false};
    ended_log ended;
    task_pool pool(pool_opts(threads, 0));
    pool.start();
    auto j = pool.apply(ended.options(), [&] { ran = true; return 1; });
    CHECK(pool.terminate_job(j.id()));
    REQUIRE(j.wait_for(patience));
    CHECK(j.state() == job_state::cancelled);
    CHECK(pool.waiting() == 0);
    CHECK_THROWS_AS(j.get(), job_cancelled);
    CHECK(ended.calls == 1);
    CHECK(ended.last.load() == job_state::cancelled);

    // Admission is FIFO: had the cancelled job stayed queued, it would run before this one.
    pool.grow();
    CHECK(pool.apply([] { return 2; }).get() == 2);
    CHECK_FALSE(ran);
    CHECK(ended.accepted == 0);
    CHECK(ended.calls == 1);
    CHECK_FALSE(pool.terminate_job(j.id()));
  });
}

TEST_CASE("terminate_job() kills a job blocked in any fiberpool wait at once, with the given signal") {
  with_threads([](std::size_t threads) {
    event never;  // never set
    semaphore no_permits(0);
    channel<int> empty(1);
    std::array<probe, 6> probes;
    event other_started;
    job<void> other;
    const std::vector<std::pair<std::string, std::function<void()>>> waits = {
        {"event::wait", [&] { never.wait(); }},
        {"event::wait_for", [&] { (void)never.wait_for(std::chrono::hours(1)); }},
        {"this_job::sleep_for", [] { this_job::sleep_for(std::chrono::hours(1)); }},
        {"job::get of another job", [other_job = &other] { job<void> copy = *other_job; copy.get(); }},
        {"semaphore::acquire", [&] { no_permits.acquire(); }},
        {"channel::pop", [&] { (void)empty.pop(); }},
    };
    REQUIRE(waits.size() == probes.size());

    task_pool pool(pool_opts(threads));
    pool.start();
    other = pool.apply([&] { other_started.set(); never.wait(); });
    REQUIRE(other_started.wait_for(patience));

    for (std::size_t i = 0; i < waits.size(); ++i) {
      CAPTURE(waits[i].first);
      auto& p = probes[i];
      auto& wait = waits[i].second;
      auto j = pool.apply([&p, &wait] {
        p.started.set();
        try {
          wait();
        } catch (const std::exception&) {
          p.caught_as_std_exception = true;
        }
        p.returned_from_wait = true;
      });
      REQUIRE(p.started.wait_for(patience));
      CHECK(pool.terminate_job(j.id(), SIGKILL));
      REQUIRE(j.wait_for(patience));
      CHECK(j.state() == job_state::terminated);
      CHECK(kill_signal(j) == SIGKILL);
      CHECK_FALSE(p.caught_as_std_exception);
      CHECK_FALSE(p.returned_from_wait);
    }
    CHECK(other.state() == job_state::running);  // only the waiter was killed, not the awaited job
    CHECK(no_permits.available() == 0);
    CHECK(other.terminate());
    REQUIRE(other.wait_for(patience));
    CHECK(pool.info().terminated == waits.size() + 1);
  });
}

TEST_CASE("the kill is sticky: a job that swallows it is killed again and ends terminated") {
  with_threads([](std::size_t threads) {
    event started;
    std::atomic<int> swallowed{0};
    std::atomic<bool> still_requested{false};
    std::atomic<bool> returned{false};
    task_pool pool(pool_opts(threads));
    pool.start();
    auto j = pool.apply([&] {
      started.set();
      for (int i = 0; i < 2; ++i) {
        try {
          this_job::sleep_for(patience);  // bounded, so a non-sticky kill fails instead of hanging
        } catch (...) {
          ++swallowed;
          still_requested = this_job::cancel_requested();
        }
      }
      returned = true;
      return 42;
    });
    REQUIRE(started.wait_for(patience));
    CHECK(pool.terminate_job(j.id(), SIGINT));
    REQUIRE(j.wait_for(2 * patience));
    CHECK(swallowed == 2);
    CHECK(still_requested);
    CHECK(returned);
    CHECK(j.state() == job_state::terminated);
    CHECK(kill_signal(j) == SIGINT);
  });
}

TEST_CASE("terminate_job() returns false and does nothing for id 0, unknown ids and ended jobs") {
  with_threads([](std::size_t threads) {
    event started, gate;
    task_pool pool(pool_opts(threads)), elsewhere(pool_opts(threads));
    pool.start();
    elsewhere.start();
    CHECK_FALSE(pool.terminate_job(0));
    CHECK_FALSE(pool.terminate_job(std::numeric_limits<job_id>::max()));

    auto foreign = elsewhere.apply([&] { started.set(); gate.wait(); return 3; });
    REQUIRE(started.wait_for(patience));
    CHECK_FALSE(pool.terminate_job(foreign.id()));  // a live job, but of another pool

    auto ended = pool.apply([] { return 1; });
    CHECK(ended.get() == 1);
    CHECK_FALSE(pool.terminate_job(ended.id()));
    CHECK_FALSE(ended.terminate());
    CHECK(ended.state() == job_state::succeeded);
    CHECK(ended.get() == 1);

    gate.set();
    CHECK(foreign.get() == 3);
    CHECK(pool.info().terminated == 0);
  });
}

TEST_CASE("job::terminate() kills a running job with SIGTERM and cancels a queued one") {
  with_threads([](std::size_t threads) {
    event started, never;
    task_pool pool(pool_opts(threads, 1));
    pool.start();
    auto running = pool.apply([&] { started.set(); never.wait(); return 1; });
    auto queued = pool.apply([] { return 2; });
    REQUIRE(started.wait_for(patience));

    CHECK(queued.terminate());
    REQUIRE(queued.wait_for(patience));
    CHECK(queued.state() == job_state::cancelled);

    CHECK(running.terminate());
    REQUIRE(running.wait_for(patience));
    CHECK(running.state() == job_state::terminated);
    CHECK(kill_signal(running) == SIGTERM);
    CHECK_FALSE(running.terminate());
  });
}

TEST_CASE("a job in a CPU loop that calls this_job::check_cancelled() is killed") {
  with_threads([](std::size_t threads) {
    event started;
    std::atomic<bool> finished_loop{false};
    task_pool pool(pool_opts(threads));
    pool.start();
    auto j = pool.apply([&] {
      started.set();
      const auto deadline = clock::now() + patience;  // bounded, so a missed kill fails, not hangs
      std::uint64_t spins = 0;
      while (clock::now() < deadline) {
        this_job::check_cancelled();
        ++spins;
      }
      finished_loop = true;
      return spins;
    });
    REQUIRE(started.wait_for(patience));
    CHECK(pool.terminate_job(j.id(), SIGUSR1));
    REQUIRE(j.wait_for(2 * patience));
    CHECK(j.state() == job_state::terminated);
    CHECK(kill_signal(j) == SIGUSR1);
    CHECK_FALSE(finished_loop);
  });
}

TEST_CASE("this_job::cancel_requested() turns true when a kill is pending") {
  CHECK_FALSE(this_job::cancel_requested());  // outside any job
  CHECK_NOTHROW(this_job::check_cancelled());
  with_threads([](std::size_t threads) {
    event started;
    std::atomic<bool> before{true}, seen{false}, after_check{false};
    task_pool pool(pool_opts(threads));
    pool.start();
    auto j = pool.apply([&] {
      before = this_job::cancel_requested();
      started.set();
      const auto deadline = clock::now() + patience;
      while (!this_job::cancel_requested() && clock::now() < deadline) {
      }
      seen = this_job::cancel_requested();
      this_job::check_cancelled();
      after_check = true;
    });
    REQUIRE(started.wait_for(patience));
    CHECK(pool.terminate_job(j.id()));
    REQUIRE(j.wait_for(2 * patience));
    CHECK_FALSE(before);
    CHECK(seen);
    CHECK_FALSE(after_check);
    CHECK(j.state() == job_state::terminated);
  });
}

TEST_CASE("terminate() of a pool kills its blocked jobs and cancels its queued ones") {
  with_threads([](std::size_t threads) {
    event never;  // set only to rescue a hung test
    semaphore started(0);
    std::atomic<int> queued_ran{0};
    ended_log ended;
    task_pool pool(pool_opts(threads, 2));
    pool.start();
    auto in_event = pool.apply(ended.options(), [&] { started.release(); never.wait(); });
    auto in_sleep = pool.apply(ended.options(), [&] { started.release(); this_job::sleep_for(std::chrono::hours(1)); });
    auto q1 = pool.apply(ended.options(), [&] { ++queued_ran; });
    auto q2 = pool.apply(ended.options(), [&] { ++queued_ran; });
    REQUIRE(started.try_acquire_for(patience));
    REQUIRE(started.try_acquire_for(patience));

    CHECK(finishes_within_patience([&] { pool.terminate(); }, [&] { never.set(); }));
    CHECK(pool.state() == pool_state::stopped);
    CHECK(in_event.state() == job_state::terminated);
    CHECK(in_sleep.state() == job_state::terminated);
    CHECK_THROWS_AS(in_event.get(), job_terminated);
    CHECK(q1.state() == job_state::cancelled);
    CHECK(q2.state() == job_state::cancelled);
    CHECK_THROWS_AS(q1.get(), job_cancelled);
    CHECK(queued_ran == 0);
    CHECK(ended.calls == 4);
    CHECK(ended.accepted == 2);
    auto info = pool.info();
    CHECK(info.terminated == 2);
    CHECK(info.cancelled == 2);
    CHECK(pool.running() == 0);
    CHECK(pool.waiting() == 0);
  });
}
