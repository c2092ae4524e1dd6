// autoscaled_pool driven by a scripted system_status: starting, the rate limit, pause, finishing,
// errors, abort, set_concurrency, and the checks of its options. Scaling, logging and the default
// status are in autoscale_scaling.cpp. Nothing here reads the machine's real load.
#include <algorithm>
#include <atomic>
#include <chrono>
#include <climits>
#include <cmath>
#include <exception>
#include <functional>
#include <memory>
#include <mutex>
#include <stdexcept>
#include <string>
#include <vector>

#include "autoscale_support.hpp"
#include "fake_root.hpp"

using namespace fiberpool_test;

// --- starting ----------------------------------------------------------------------------------

TEST_CASE("tasks start as jobs while there is room, up to the desired concurrency, until the work is done") {
  with_threads([](std::size_t threads) {
    work w(10);
    auto status = std::make_shared<scripted_status>();
    std::atomic<int> outside_a_job{0};
    w.body = [&](int) {
      if (fiberpool::this_job::id() == 0) ++outside_a_job;
      w.release.wait();
    };
    autoscaled_pool ap(options_for(w, status, 3), pool_opts(threads));
    w.pool = &ap;
    background_run run(ap);
    REQUIRE(eventually([&] { return w.started == 3; }));
    settle();
    CHECK(w.started == 3);
    CHECK(ap.current_concurrency() == 3);
    CHECK(ap.desired_concurrency() == 3);
    CHECK_FALSE(run.returned());
    w.release.set();
    CHECK_FALSE(run.finish());
    CHECK(w.started == 10);
    CHECK(w.done == 10);
    CHECK(outside_a_job == 0);
    CHECK(ap.current_concurrency() == 0);
  });
}

TEST_CASE("an overloaded current status starts no task beyond min; once it clears, tasks start up to desired") {
  with_threads([](std::size_t threads) {
    work w(10);
    auto status = std::make_shared<scripted_status>();
    status->current_overloaded = true;
    auto o = options_for(w, status, 5);
    o.concurrency.min = 2;
    autoscaled_pool ap(std::move(o), pool_opts(threads));
    w.pool = &ap;
    background_run run(ap);
    REQUIRE(eventually([&] { return w.started == 2; }));  // min runs whatever the load
    const int asked = status->current_calls + 5;
    REQUIRE(eventually([&] { return status->current_calls >= asked; }));  // asked again and again
    CHECK(w.started == 2);
    CHECK(w.finished_calls == 0);
    status->current_overloaded = false;
    REQUIRE(eventually([&] { return w.started == 5; }));
    settle();
    CHECK(w.started == 5);
    w.release.set();
    CHECK_FALSE(run.finish());
    CHECK(w.done == 10);
  });
}

TEST_CASE("max_tasks_per_minute: a burst up to the limit starts at once, and no more within the minute") {
  with_threads([](std::size_t threads) {
    work w(10);
    w.release.set();  // tasks end at once
    auto status = std::make_shared<scripted_status>();
    auto o = options_for(w, status, 10);
    o.concurrency.max_tasks_per_minute = 3;
    autoscaled_pool ap(std::move(o), pool_opts(threads));
    w.pool = &ap;
    background_run run(ap);
    // Evenly spaced starts (one per 20 s) would need 40 s for the third: more than patience.
    REQUIRE(eventually([&] { return w.done == 3; }));
    settle();
    CHECK(w.started == 3);
    CHECK(ap.current_concurrency() == 0);
    CHECK_FALSE(run.returned());  // work is left: the pool waits for the window
    ap.abort();
    CHECK_FALSE(run.finish());
  });
}

TEST_CASE("max_tasks_per_minute: a full window does not keep run() from finishing once the work is done") {
  with_threads([](std::size_t threads) {
    work w(2);
    w.release.set();
    auto status = std::make_shared<scripted_status>();
    auto o = options_for(w, status, 5);
    o.concurrency.max_tasks_per_minute = 2;
    autoscaled_pool ap(std::move(o), pool_opts(threads));
    w.pool = &ap;
    background_run run(ap);
    CHECK_FALSE(run.finish());  // within patience, far less than the minute the window is full
    CHECK(w.done == 2);
  });
}

TEST_CASE("pause() starts nothing new while running tasks go on; resume() starts again at once") {
  with_threads([](std::size_t threads) {
    work w(6);
    auto status = std::make_shared<scripted_status>();
    fiberpool::semaphore finish_one(0);
    w.body = [&](int) { finish_one.acquire(); };
    autoscaled_pool ap(options_for(w, status, 2), pool_opts(threads));
    w.pool = &ap;
    background_run run(ap);
    REQUIRE(eventually([&] { return w.started == 2; }));
    ap.pause();
    CHECK(ap.paused());
    finish_one.release(2);  // the running tasks go on to their end
    REQUIRE(eventually([&] { return w.done == 2; }));
    settle();
    CHECK(w.started == 2);
    CHECK(w.killed == 0);
    CHECK(w.ready_asked_while_paused == 0);
    CHECK(w.finished_calls == 0);  // nothing runs, but a paused pool is not finished
    ap.resume();
    REQUIRE(eventually([&] { return w.started == 4; }));
    finish_one.release(4);
    CHECK_FALSE(run.finish());
    CHECK(w.done == 6);
  });
}

// --- finishing ---------------------------------------------------------------------------------

TEST_CASE("is_finished() is asked only when nothing runs and no task is ready; run() returns when it says yes") {
  with_threads([](std::size_t threads) {
    work w(3);
    auto status = std::make_shared<scripted_status>();
    w.finish_allowed = false;
    autoscaled_pool ap(options_for(w, status, 5), pool_opts(threads));
    w.pool = &ap;
    background_run run(ap);
    REQUIRE(eventually([&] { return w.started == 3; }));
    // There is room for two more but no item left, and three run: the pool must not ask whether
    // it is done.
    REQUIRE(eventually([&] { return w.ready_calls > 0 && !w.last_ready; }));
    settle();
    CHECK(w.finished_calls == 0);
    w.release.set();
    REQUIRE(eventually([&] { return w.finished_calls >= 3; }));  // asked again while it says no
    CHECK_FALSE(run.returned());
    w.finish_allowed = true;
    CHECK_FALSE(run.finish());
    CHECK(w.finish_asked_wrongly == 0);
  });
}

TEST_CASE("an overloaded status does not keep run() from finishing once the work is done") {
  with_threads([](std::size_t threads) {
    work w(2);
    w.release.set();
    auto status = std::make_shared<scripted_status>();
    autoscaled_pool ap(options_for(w, status, 2), pool_opts(threads));
    w.pool = &ap;
    status->on_current = [&] {
      if (w.done == 2) status->current_overloaded = true;
    };
    background_run run(ap);
    CHECK_FALSE(run.finish());
    CHECK(w.done == 2);
    CHECK(w.finish_asked_wrongly == 0);
  });
}

// --- errors ------------------------------------------------------------------------------------

TEST_CASE("a task's exception ends run(): the other tasks are terminated and it is rethrown") {
  with_threads([](std::size_t threads) {
    work w(100);
    auto status = std::make_shared<scripted_status>();
    w.body = [&](int n) {
      if (n < 2) {
        w.release.wait();
        return;
      }
      throw std::runtime_error("task 2 broke");
    };
    autoscaled_pool ap(options_for(w, status, 3), pool_opts(threads));
    w.pool = &ap;
    background_run run(ap);
    auto e = run.finish();
    REQUIRE(e);
    CHECK(message_of<std::runtime_error>(e) == "task 2 broke");
    CHECK(w.killed == 2);
    CHECK(w.started == 3);
    CHECK(ap.current_concurrency() == 0);
  });
}

TEST_CASE("an exception from is_task_ready() or is_finished() ends run() and is rethrown; running tasks are terminated") {
  with_threads([](std::size_t threads) {
    SUBCASE("is_task_ready") {
      work w(100);
      auto status = std::make_shared<scripted_status>();
      auto o = options_for(w, status, 5);
      o.is_task_ready = [&] {
        if (w.ready_calls == 2) {  // two tasks were started: once they run, fail
          REQUIRE(eventually([&] { return w.started == 2; }));
          throw std::logic_error("the queue is gone");
        }
        return w.ready();
      };
      autoscaled_pool ap(std::move(o), pool_opts(threads));
      w.pool = &ap;
      background_run run(ap);
      auto e = run.finish();
      CHECK(message_of<std::logic_error>(e) == "the queue is gone");
      CHECK(w.killed == 2);
    }
    SUBCASE("is_finished") {
      work w(0);
      auto status = std::make_shared<scripted_status>();
      auto o = options_for(w, status, 5);
      o.is_finished = [] () -> bool { throw std::runtime_error("cannot tell"); };
      autoscaled_pool ap(std::move(o), pool_opts(threads));
      w.pool = &ap;
      background_run run(ap);
      CHECK(message_of<std::runtime_error>(run.finish()) == "cannot tell");
      CHECK(w.started == 0);
    }
  });
}

TEST_CASE("an exception from the status probe ends run() and is rethrown; running tasks are terminated") {
  with_threads([](std::size_t threads) {
    SUBCASE("current()") {
      work w(100);
      auto status = std::make_shared<scripted_status>();
      status->on_current = [&] {
        if (status->current_calls == 3) {  // two tasks were started: once they run, fail
          REQUIRE(eventually([&] { return w.started == 2; }));
          throw std::runtime_error("probe failed");
        }
      };
      autoscaled_pool ap(options_for(w, status, 5), pool_opts(threads));
      w.pool = &ap;
      background_run run(ap);
      CHECK(message_of<std::runtime_error>(run.finish()) == "probe failed");
      CHECK(w.killed == 2);
    }
    SUBCASE("historical()") {
      work w(100);
      auto status = std::make_shared<scripted_status>();
      status->on_historical = [] { throw std::runtime_error("history lost"); };
      auto o = options_for(w, status, 2);
      o.autoscale_interval = std::chrono::milliseconds(1);
      autoscaled_pool ap(std::move(o), pool_opts(threads));
      w.pool = &ap;
      background_run run(ap);
      CHECK(message_of<std::runtime_error>(run.finish()) == "history lost");
      CHECK(w.killed == w.started);
      CHECK(ap.current_concurrency() == 0);
    }
  });
}

TEST_CASE("a task killed by someone else (a hard time limit) is logged at warning level and the run goes on") {
  with_threads([](std::size_t threads) {
    log_capture capture;
    std::atomic<int> started{0};
    int taken = 0;  // run()'s thread only
    fiberpool::event never;
    autoscaled_options o;
    o.concurrency.desired = 3;
    o.run_task = [&] {
      if (started++ == 0) never.wait();  // the others return without a cancellation point: never killed
    };
    o.is_task_ready = [&] { return taken < 3 && ++taken > 0; };
    o.is_finished = [] { return true; };
    o.status = std::make_shared<scripted_status>();
    o.maybe_run_interval = std::chrono::milliseconds(1);
    auto p = pool_opts(threads);
    p.logger = capture.logger();
    p.hard_time_limit = std::chrono::milliseconds(20);
    autoscaled_pool ap(std::move(o), p);
    CHECK_NOTHROW(ap.run());
    const auto text = capture.text();
    INFO(text);
    CHECK(text.find("warning fiberpool: autoscaled_pool 'pool': a task was terminated (fiberpool: hard time limit "
                    "exceeded), not by the pool; the run goes on") != std::string::npos);
    CHECK(text.find("'pool' finished after") != std::string::npos);
    CHECK(text.find("3 tasks started, 2 succeeded, 0 failed, 1 terminated") != std::string::npos);
  });
}

TEST_CASE("run() while run() is running throws error") {
  with_threads([](std::size_t threads) {
    work w(1);
    auto status = std::make_shared<scripted_status>();
    autoscaled_pool ap(options_for(w, status, 1), pool_opts(threads));
    w.pool = &ap;
    background_run run(ap);
    REQUIRE(eventually([&] { return w.started == 1; }));
    CHECK_THROWS_WITH_AS(ap.run(), doctest::Contains("already running"), fiberpool::error);
    w.release.set();
    CHECK_FALSE(run.finish());
  });
}

// --- abort -------------------------------------------------------------------------------------

TEST_CASE("abort() terminates running tasks and run() returns without an exception") {
  with_threads([](std::size_t threads) {
    work w(100);
    auto status = std::make_shared<scripted_status>();
    autoscaled_pool ap(options_for(w, status, 4), pool_opts(threads));
    w.pool = &ap;
    background_run run(ap);
    REQUIRE(eventually([&] { return w.started == 4; }));
    ap.abort();
    CHECK_FALSE(run.finish());
    CHECK(w.killed == 4);
    CHECK(w.done == 0);
    CHECK(ap.current_concurrency() == 0);
  });
}

TEST_CASE("abort() from a task ends run() too, and the task that called it is terminated with the rest") {
  with_threads([](std::size_t threads) {
    work w(100);
    auto status = std::make_shared<scripted_status>();
    w.body = [&](int n) {
      if (n == 2) w.pool->abort();
      w.release.wait();
    };
    autoscaled_pool ap(options_for(w, status, 3), pool_opts(threads));
    w.pool = &ap;
    background_run run(ap);
    CHECK_FALSE(run.finish());
    CHECK(w.killed == w.started);
    CHECK(w.started >= 3);
  });
}

TEST_CASE("abort() before run() makes that run() return at once; the one after runs normally") {
  with_threads([](std::size_t threads) {
    work w(2);
    w.release.set();
    auto status = std::make_shared<scripted_status>();
    autoscaled_pool ap(options_for(w, status, 2), pool_opts(threads));
    w.pool = &ap;
    ap.abort();
    CHECK_NOTHROW(ap.run());
    CHECK(w.started == 0);
    CHECK(w.ready_calls == 0);
    CHECK_NOTHROW(ap.run());
    CHECK(w.done == 2);
  });
}

TEST_CASE("a kill of the job that runs run() ends it and terminates its tasks") {
  with_threads([](std::size_t threads) {
    work w(100);
    auto status = std::make_shared<scripted_status>();
    autoscaled_pool ap(options_for(w, status, 2), pool_opts(threads));
    w.pool = &ap;
    fiberpool::task_pool outer(pool_opts(threads));
    outer.start();
    auto driver = outer.apply([&] { ap.run(); });
    REQUIRE(eventually([&] { return w.started == 2; }));
    driver.terminate();
    CHECK_THROWS_AS(driver.get(), fiberpool::job_terminated);
    CHECK(eventually([&] { return w.killed == 2; }));
    CHECK(eventually([&] { return ap.current_concurrency() == 0; }));
  });
}

// --- set_concurrency ---------------------------------------------------------------------------

TEST_CASE("set_concurrency() applies at once: raising desired starts tasks up to it") {
  with_threads([](std::size_t threads) {
    work w(100);
    auto status = std::make_shared<scripted_status>();
    autoscaled_pool ap(options_for(w, status, 1), pool_opts(threads));
    w.pool = &ap;
    background_run run(ap);
    REQUIRE(eventually([&] { return w.started == 1; }));
    concurrency_settings s;
    s.min = 2;
    s.max = 10;
    s.desired = 4;
    ap.set_concurrency(s);
    CHECK(ap.desired_concurrency() == 4);
    REQUIRE(eventually([&] { return w.started == 4; }));
    settle();
    CHECK(w.started == 4);
    auto now = ap.concurrency();
    CHECK(now.min == 2);
    CHECK(now.max == 10);
    CHECK(now.desired == 4);
    ap.abort();
    CHECK_FALSE(run.finish());
  });
}

TEST_CASE("set_concurrency() lowering desired kills nothing; no task starts until fewer than desired run") {
  with_threads([](std::size_t threads) {
    work w(100);
    auto status = std::make_shared<scripted_status>();
    fiberpool::semaphore finish_one(0);
    w.body = [&](int) { finish_one.acquire(); };
    autoscaled_pool ap(options_for(w, status, 4), pool_opts(threads));
    w.pool = &ap;
    background_run run(ap);
    REQUIRE(eventually([&] { return w.started == 4; }));
    auto s = ap.concurrency();
    s.desired = 2;
    ap.set_concurrency(s);
    finish_one.release(1);  // 3 run: still not below 2
    REQUIRE(eventually([&] { return w.done == 1; }));
    settle();
    CHECK(w.started == 4);
    CHECK(w.killed == 0);
    finish_one.release(2);  // 1 runs: one more starts
    REQUIRE(eventually([&] { return w.started == 5; }));
    settle();
    CHECK(w.started == 5);
    ap.abort();
    CHECK_FALSE(run.finish());
  });
}

TEST_CASE("set_concurrency() validates: invalid settings throw std::invalid_argument and change nothing") {
  work w(0);
  auto status = std::make_shared<scripted_status>();
  autoscaled_pool ap(options_for(w, status, 3), pool_opts(1));
  concurrency_settings bad;
  bad.min = 5;
  bad.max = 4;
  CHECK_THROWS_WITH_AS(ap.set_concurrency(bad), doctest::Contains("below min"), std::invalid_argument);
  CHECK(ap.desired_concurrency() == 3);
  CHECK(ap.concurrency().max == 200);
}

// --- options -----------------------------------------------------------------------------------

TEST_CASE("autoscaled_options: Crawlee's defaults") {
  autoscaled_options o;
  CHECK(o.autoscale_interval == std::chrono::seconds(10));
  CHECK(o.scale_up_step_ratio == 0.05);
  CHECK(o.scale_down_step_ratio == 0.05);
  CHECK(o.desired_concurrency_ratio == 0.9);
  CHECK(o.maybe_run_interval == std::chrono::milliseconds(500));
  CHECK(o.logging_interval == std::chrono::seconds(60));
  CHECK(o.status == nullptr);
}

TEST_CASE("autoscaled_pool checks its options: each bad one throws std::invalid_argument saying what to change") {
  work w(0);
  auto status = std::make_shared<scripted_status>();
  auto good = options_for(w, status);
  auto expect = [&](std::function<void(autoscaled_options&)> spoil, const char* says) {
    CAPTURE(says);
    auto o = good;
    spoil(o);
    CHECK_THROWS_WITH_AS(autoscaled_pool(o, pool_opts(1)), doctest::Contains(says), std::invalid_argument);
  };
  expect([](auto& o) { o.run_task = nullptr; }, "run_task is empty");
  expect([](auto& o) { o.is_task_ready = nullptr; }, "is_task_ready is empty");
  expect([](auto& o) { o.is_finished = nullptr; }, "is_finished is empty");
  expect([](auto& o) { o.concurrency.desired = 500; }, "desired (500) is outside");
  expect([](auto& o) { o.autoscale_interval = fiberpool::clock::duration::zero(); }, "autoscale_interval must be longer");
  expect([](auto& o) { o.maybe_run_interval = -std::chrono::seconds(1); }, "maybe_run_interval");
  expect([](auto& o) { o.logging_interval = fiberpool::clock::duration::zero(); }, "logging_interval");
  expect([](auto& o) { o.scale_up_step_ratio = 0; }, "scale_up_step_ratio must be above 0");
  expect([](auto& o) { o.scale_down_step_ratio = -1; }, "scale_down_step_ratio");
  expect([](auto& o) { o.desired_concurrency_ratio = 90; }, "desired_concurrency_ratio must be in (0, 1]");
  auto bad_status = good;
  bad_status.status = nullptr;
  bad_status.status_options.max_memory_ratio = 0;
  CHECK_THROWS_WITH_AS(autoscaled_pool(bad_status, pool_opts(1)), doctest::Contains("max_memory_ratio"),
                       std::invalid_argument);
  fake_root empty;
  bad_status.status_options = {};
  bad_status.status_options.root = empty.path();
  CHECK_THROWS_WITH_AS(autoscaled_pool(bad_status, pool_opts(1)), doctest::Contains("system_status_options::root"),
                       fiberpool::error);
  check_no_leaks();
}
