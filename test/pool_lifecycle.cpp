// pool_lifecycle: start/close/stop/stop_for/terminate/restart, shutdown signals, the destructor,
// shared runtimes, deadlock detection, and info()/jobs().
#include <atomic>
#include <chrono>
#include <csignal>
#include <future>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "support.hpp"

using namespace fiberpool;
using namespace fiberpool_test;

namespace {

// on_ended_counter: job_options whose on_ended counts calls and remembers the last state.
struct ended_log {
  std::atomic<int> calls{0};
  std::atomic<job_state> last{job_state::queued};
  job_options options() {
    job_options o;
    o.on_ended = [this](job_id, job_state s, std::exception_ptr) {
      last.store(s);
      calls.fetch_add(1);
    };
    return o;
  }
};

}  // namespace

TEST_CASE("a pool is created, runs after start(), and is stopped by stop()") {
  with_threads([](std::size_t threads) {
    task_pool pool(pool_opts(threads));
    CHECK(pool.state() == pool_state::created);
    CHECK_FALSE(pool.did_start_ok());

    pool.start();
    CHECK(pool.state() == pool_state::running);
    CHECK(eventually([&] { return pool.did_start_ok(); }));
    CHECK(pool.apply([] { return 7; }).get() == 7);

    pool.stop();
    CHECK(pool.state() == pool_state::stopped);
    CHECK_FALSE(pool.did_start_ok());
  });
}

TEST_CASE("start() on a pool that is not newly created throws fiberpool::error") {
  with_threads([](std::size_t threads) {
    task_pool pool(pool_opts(threads));
    pool.start();
    CHECK_THROWS_AS(pool.start(), error);
    CHECK(pool.state() == pool_state::running);
    pool.stop();
    CHECK_THROWS_AS(pool.start(), error);
    CHECK(pool.state() == pool_state::stopped);
  });
}

TEST_CASE("num_processes() and info().threads are the scheduler threads the pool was given") {
  with_threads([](std::size_t threads) {
    task_pool pool(pool_opts(threads));
    CHECK(pool.num_processes() == threads);
    pool.start();
    CHECK(pool.num_processes() == threads);
    CHECK(pool.info().threads == threads);
  });
}

TEST_CASE("the Celery pool flags say green, not signal-safe, non-blocking join, semaphore admission") {
  static_assert(task_pool::is_green);
  static_assert(!task_pool::signal_safe);
  static_assert(!task_pool::task_join_will_block);
  static_assert(task_pool::uses_semaphore);
  CHECK(task_pool::is_green);
  CHECK_FALSE(task_pool::signal_safe);
  CHECK_FALSE(task_pool::task_join_will_block);
  CHECK(task_pool::uses_semaphore);
}

TEST_CASE("close() refuses new jobs while queued and running jobs go on") {
  with_threads([](std::size_t threads) {
    event started, gate;
    task_pool pool(pool_opts(threads, 1));
    pool.start();
    auto first = pool.apply([&] { started.set(); gate.wait(); return 1; });
    auto second = pool.apply([] { return 2; });
    REQUIRE(started.wait_for(patience));

    pool.close();
    CHECK(pool.state() == pool_state::closed);
    CHECK_THROWS_AS(pool.apply([] { return 3; }), pool_closed);
    CHECK(pool.waiting() == 1);

    gate.set();
    REQUIRE(second.wait_for(patience));
    CHECK(first.get() == 1);
    CHECK(second.get() == 2);
    pool.stop();
    CHECK(pool.state() == pool_state::stopped);
  });
}

TEST_CASE("apply() after close(), stop() or terminate() throws pool_closed") {
  with_threads([](std::size_t threads) {
    task_pool closed(pool_opts(threads));
    closed.start();
    closed.close();
    CHECK_THROWS_AS(closed.apply([] {}), pool_closed);

    task_pool stopped(pool_opts(threads));
    stopped.start();
    stopped.stop();
    CHECK_THROWS_AS(stopped.apply([] {}), pool_closed);

    task_pool terminated(pool_opts(threads));
    terminated.start();
    terminated.terminate();
    CHECK(terminated.state() == pool_state::stopped);
    CHECK_THROWS_AS(terminated.apply([] {}), pool_closed);
  });
}

TEST_CASE("stop() emits pool_preshutdown, waits for every queued and running job, then emits pool_postshutdown") {
  with_threads([](std::size_t threads) {
    event started, gate, preshutdown;
    std::mutex mu;
    std::vector<std::string> seen;
    std::atomic<bool> jobs_done_at_post{false};
    std::atomic<bool> right_pool{true};
    {
      task_pool pool(pool_opts(threads, 1));
      job<int> running_job, queued_job;
      auto record = [&](task_pool& p, const char* what) {
        if (&p != &pool) right_pool = false;
        std::lock_guard lk(mu);
        seen.emplace_back(what);
      };
      pool.signals().pool_started.connect([&](task_pool& p) { record(p, "started"); });
      pool.signals().pool_preshutdown.connect([&](task_pool& p) {
        record(p, "preshutdown");
        preshutdown.set();
      });
      pool.signals().pool_postshutdown.connect([&](task_pool& p) {
        record(p, "postshutdown");
        jobs_done_at_post = running_job.done() && queued_job.done();
      });

      pool.start();
      running_job = pool.apply([&] { started.set(); gate.wait(); return 1; });
      queued_job = pool.apply([] { return 2; });
      REQUIRE(started.wait_for(patience));

      auto stopping = std::async(std::launch::async, [&] { pool.stop(); });
      CHECK(preshutdown.wait_for(patience));
      settle();
      CHECK(stopping.wait_for(0s) == std::future_status::timeout);  // still waiting for the jobs
      CHECK(pool.state() == pool_state::closed);
      CHECK_THROWS_AS(pool.apply([] { return 0; }), pool_closed);

      gate.set();
      REQUIRE(stopping.wait_for(patience) == std::future_status::ready);
      stopping.get();
      CHECK(pool.state() == pool_state::stopped);
      CHECK(running_job.get() == 1);
      CHECK(queued_job.get() == 2);
    }
    CHECK(seen == std::vector<std::string>{"started", "preshutdown", "postshutdown"});
    CHECK(jobs_done_at_post);
    CHECK(right_pool);
  });
}

TEST_CASE("stop() and terminate() are idempotent: the shutdown signals are emitted exactly once") {
  with_threads([](std::size_t threads) {
    std::atomic<int> pre{0}, post{0};
    {
      task_pool pool(pool_opts(threads));
      pool.signals().pool_preshutdown.connect([&](task_pool&) { ++pre; });
      pool.signals().pool_postshutdown.connect([&](task_pool&) { ++post; });
      pool.start();
      CHECK(pool.apply([] { return 1; }).get() == 1);
      pool.stop();
      CHECK_NOTHROW(pool.stop());
      CHECK_NOTHROW(pool.terminate());
      CHECK(pool.state() == pool_state::stopped);
    }
    CHECK(pre == 1);
    CHECK(post == 1);

    pre = 0;
    post = 0;
    {
      task_pool pool(pool_opts(threads));
      pool.signals().pool_preshutdown.connect([&](task_pool&) { ++pre; });
      pool.signals().pool_postshutdown.connect([&](task_pool&) { ++post; });
      pool.start();
      pool.terminate();
      CHECK_NOTHROW(pool.terminate());
      CHECK_NOTHROW(pool.stop());
      CHECK(pool.state() == pool_state::stopped);
    }
    CHECK(pre == 1);
    CHECK(post == 1);
  });
}

TEST_CASE("stop() on a pool that was never started ends its queued jobs cancelled") {
  with_threads([](std::size_t threads) {
    std::atomic<int> ran{0};
    ended_log ended;
    task_pool pool(pool_opts(threads));
    auto a = pool.apply(ended.options(), [&] { ++ran; return 1; });
    auto b = pool.apply(ended.options(), [&] { ++ran; });
    CHECK(pool.waiting() == 2);

    pool.stop();
    CHECK(pool.state() == pool_state::stopped);
    CHECK(a.state() == job_state::cancelled);
    CHECK(b.state() == job_state::cancelled);
    CHECK_THROWS_AS(a.get(), job_cancelled);
    CHECK_THROWS_AS(b.get(), job_cancelled);
    CHECK(ended.calls == 2);
    CHECK(ended.last.load() == job_state::cancelled);
    CHECK(pool.info().cancelled == 2);
    CHECK(ran == 0);
  });
}

TEST_CASE("stop_for() returns true when every job ends within the grace period") {
  with_threads([](std::size_t threads) {
    task_pool pool(pool_opts(threads, 1));
    pool.start();
    auto a = pool.apply([] { return 1; });
    auto b = pool.apply([] { return 2; });
    CHECK(pool.stop_for(patience));
    CHECK(pool.state() == pool_state::stopped);
    CHECK(a.get() == 1);
    CHECK(b.get() == 2);
  });
}

TEST_CASE("stop_for() terminates running jobs and cancels queued ones left after the grace period") {
  with_threads([](std::size_t threads) {
    event started, never;  // `never` is set only to rescue a hung test
    std::atomic<int> pre{0}, post{0};
    task_pool pool(pool_opts(threads, 1));
    pool.signals().pool_preshutdown.connect([&](task_pool&) { ++pre; });
    pool.signals().pool_postshutdown.connect([&](task_pool&) { ++post; });
    pool.start();
    auto stuck = pool.apply([&] { started.set(); never.wait(); return 1; });
    auto queued = pool.apply([] { return 2; });
    REQUIRE(started.wait_for(patience));

    bool ended_in_grace = true;
    CHECK(finishes_within_patience([&] { ended_in_grace = pool.stop_for(20ms); },
                                   [&] { never.set(); }));
    CHECK_FALSE(ended_in_grace);
    CHECK(pool.state() == pool_state::stopped);
    CHECK(stuck.state() == job_state::terminated);
    CHECK(queued.state() == job_state::cancelled);
    CHECK_THROWS_AS(stuck.get(), job_terminated);
    CHECK_THROWS_AS(queued.get(), job_cancelled);
    CHECK(pre == 1);
    CHECK(post == 1);
  });
}

TEST_CASE("terminate() kills running jobs, cancels queued ones and emits both shutdown signals") {
  with_threads([](std::size_t threads) {
    event started, never;  // `never` is set only to rescue a hung test
    std::mutex mu;
    std::vector<std::string> seen;
    task_pool pool(pool_opts(threads, 1));
    pool.signals().pool_preshutdown.connect([&](task_pool&) { std::lock_guard lk(mu); seen.emplace_back("pre"); });
    pool.signals().pool_postshutdown.connect([&](task_pool&) { std::lock_guard lk(mu); seen.emplace_back("post"); });
    pool.start();
    auto stuck = pool.apply([&] { started.set(); never.wait(); });
    auto queued = pool.apply([] {});
    REQUIRE(started.wait_for(patience));

    CHECK(finishes_within_patience([&] { pool.terminate(); }, [&] { never.set(); }));
    CHECK(pool.state() == pool_state::stopped);
    CHECK(stuck.state() == job_state::terminated);
    CHECK(queued.state() == job_state::cancelled);
    CHECK(seen == std::vector<std::string>{"pre", "post"});
  });
}

TEST_CASE("destroying a running pool kills jobs blocked on an event at once and leaves no fiber") {
  with_threads([](std::size_t threads) {
    event never;  // set only to rescue a hung test
    semaphore started(0);
    ended_log ended;
    std::vector<job<void>> jobs;
    auto pool = std::make_unique<task_pool>(pool_opts(threads));
    pool->start();
    for (int i = 0; i < 3; ++i)
      jobs.push_back(pool->apply(ended.options(), [&] { started.release(); never.wait(); }));
    for (int i = 0; i < 3; ++i) REQUIRE(started.try_acquire_for(patience));

    CHECK(finishes_within_patience([&] { pool.reset(); }, [&] { never.set(); }));
    const auto left = diagnostics::snapshot();
    CHECK(left.fibers == 0);
    CHECK(left.stacks_in_use == 0);
    for (auto& j : jobs) {
      CHECK(j.state() == job_state::terminated);
      CHECK_THROWS_AS(j.get(), job_terminated);
    }
    CHECK(ended.calls == 3);
    CHECK(ended.last.load() == job_state::terminated);
  });
}

TEST_CASE("restart() keeps running and queued jobs, the thread count, and did_start_ok()") {
  with_threads([](std::size_t threads) {
    event started, gate;
    task_pool pool(pool_opts(threads, 1));
    pool.start();
    auto running_job = pool.apply([&] { started.set(); gate.wait(); return 1; });
    auto queued_job = pool.apply([] { return 2; });
    REQUIRE(started.wait_for(patience));

    CHECK(finishes_within_patience([&] { pool.restart(); }, [&] { gate.set(); }));
    CHECK(pool.num_processes() == threads);
    CHECK(pool.did_start_ok());
    CHECK(pool.state() == pool_state::running);
    CHECK(running_job.state() == job_state::running);
    CHECK(queued_job.state() == job_state::queued);

    gate.set();
    REQUIRE(queued_job.wait_for(patience));
    CHECK(running_job.get() == 1);
    CHECK(queued_job.get() == 2);
    CHECK(pool.apply([] { return 3; }).get() == 3);
  });
}

TEST_CASE("restart() of a pool that is not running throws fiberpool::error") {
  with_threads([](std::size_t threads) {
    task_pool pool(pool_opts(threads));
    CHECK_THROWS_AS(pool.restart(), error);
    pool.start();
    pool.stop();
    CHECK_THROWS_AS(pool.restart(), error);
  });
}

TEST_CASE("pools on a shared runtime run their jobs on its threads and ignore options.threads") {
  with_threads([](std::size_t threads) {
    runtime_options rt_opts;
    rt_opts.threads = threads;
    runtime rt(rt_opts);
    {
      task_pool a(rt, pool_opts(7));
      task_pool b(rt, pool_opts(threads));
      CHECK(a.num_processes() == threads);
      CHECK(&a.runtime() == &rt);
      a.start();
      b.start();
      CHECK(a.apply([&] { return runtime::current() == &rt; }).get());
      CHECK(b.apply([&] { return runtime::current() == &rt; }).get());
      // A job of one pool waits for a job of the other on the same threads.
      CHECK(a.apply([&] { return b.apply([] { return 5; }).get() + 1; }).get() == 6);
      a.stop();
      CHECK(b.apply([] { return 8; }).get() == 8);
    }
    CHECK(rt.threads() == threads);
  });
}

TEST_CASE("stop(), terminate() and waitall() from a job of the same pool throw deadlock_error") {
  with_threads([](std::size_t threads) {
    task_pool pool(pool_opts(threads));
    pool.start();
    auto j = pool.apply([&] {
      std::string seen;
      auto attempt = [&](const char* what, auto call) {
        try {
          call();
          seen += what + std::string(":returned ");
        } catch (const deadlock_error&) {
          seen += what + std::string(":deadlock_error ");
        } catch (...) {
          seen += what + std::string(":other ");
        }
      };
      attempt("waitall", [&] { pool.waitall(); });
      attempt("stop", [&] { pool.stop(); });
      attempt("terminate", [&] { pool.terminate(); });
      return seen;
    });
    REQUIRE(j.wait_for(patience));
    CHECK(j.get() == "waitall:deadlock_error stop:deadlock_error terminate:deadlock_error ");
    CHECK(pool.state() == pool_state::running);
    CHECK(pool.apply([] { return 1; }).get() == 1);
  });
}

TEST_CASE("info() reports the pool's settings, live counts and ended jobs by terminal state") {
  with_threads([](std::size_t threads) {
    event started, never;
    auto opts = pool_opts(threads, 1);
    opts.name = "info-pool";
    task_pool pool(opts);
    pool.start();
    auto stuck = pool.apply([&] { started.set(); never.wait(); });
    auto queued = pool.apply([] {});
    REQUIRE(started.wait_for(patience));

    auto live = pool.info();
    CHECK(live.name == "info-pool");
    CHECK(live.state == pool_state::running);
    CHECK(live.limit == 1);
    CHECK(live.threads == threads);
    CHECK(live.running == 1);
    CHECK(live.waiting == 1);

    CHECK(pool.terminate_job(queued.id()));
    CHECK(pool.terminate_job(stuck.id()));
    REQUIRE(stuck.wait_for(patience));
    CHECK(pool.apply([] { return 1; }).get() == 1);
    auto failing = pool.apply([]() -> int { throw std::runtime_error("fails"); });
    REQUIRE(failing.wait_for(patience));
    pool.waitall();

    auto ended = pool.info();
    CHECK(ended.running == 0);
    CHECK(ended.waiting == 0);
    CHECK(ended.succeeded == 1);
    CHECK(ended.failed == 1);
    CHECK(ended.terminated == 1);
    CHECK(ended.cancelled == 1);
  });
}

TEST_CASE("jobs() lists live jobs oldest first with their name, group, state and start time") {
  with_threads([](std::size_t threads) {
    event started, gate;
    task_pool pool(pool_opts(threads, 1));
    pool.start();
    job_options a_opts, b_opts;
    a_opts.name = "job-a";
    a_opts.group = "group-1";
    b_opts.name = "job-b";
    b_opts.group = "group-2";
    auto a = pool.apply(a_opts, [&] { started.set(); gate.wait(); });
    auto b = pool.apply(b_opts, [] {});
    REQUIRE(started.wait_for(patience));

    auto live = pool.jobs();
    REQUIRE(live.size() == 2);
    CHECK(live[0].id == a.id());
    CHECK(live[0].name == "job-a");
    CHECK(live[0].group == "group-1");
    CHECK(live[0].state == job_state::running);
    CHECK(live[0].started_at.has_value());
    CHECK(live[1].id == b.id());
    CHECK(live[1].name == "job-b");
    CHECK(live[1].group == "group-2");
    CHECK(live[1].state == job_state::queued);
    CHECK_FALSE(live[1].started_at.has_value());

    gate.set();
    pool.waitall();
    CHECK(pool.jobs().empty());
  });
}

// Regression: a lost wake-up (the idle eventfd drained after its flag was cleared) once left a
// scheduler thread asleep in epoll_wait, so destroying a pool hung now and then. Many short-lived
// pools make that window likely; a hang shows up as the test's timeout.
TEST_CASE("pools created, used and destroyed in a loop never hang on shutdown") {
  with_threads([](std::size_t threads) {
    for (int i = 0; i < 300; ++i) {
      task_pool pool(pool_opts(threads));
      pool.start();
      auto j = pool.apply([i] { return i; });
      CHECK(j.get() == i);
    }
  });
}
