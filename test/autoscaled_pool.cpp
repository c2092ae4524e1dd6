// autoscaled_pool driven by a scripted system_status (and, at the end, by the default one on fake
// cgroup files): starting, the rate limit, pause, finishing, errors, abort, set_concurrency,
// scaling, logging, and the checks of its options. Nothing here reads the machine's real load.
#include <atomic>
#include <chrono>
#include <climits>
#include <exception>
#include <functional>
#include <memory>
#include <mutex>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "fake_root.hpp"
#include "support.hpp"

using namespace fiberpool_test;
using fiberpool::autoscaled_options;
using fiberpool::autoscaled_pool;
using fiberpool::concurrency_settings;
using fiberpool::status_report;

namespace {

// A system_status a test drives: overload flags, call counts, and hooks (which may throw) called
// inside current() and historical() on run()'s thread.
class scripted_status : public fiberpool::system_status {
 public:
  std::atomic<bool> current_overloaded{false};
  std::atomic<bool> historical_overloaded{false};
  std::atomic<int> current_calls{0};
  std::atomic<int> historical_calls{0};
  std::function<void()> on_current;     // set before run()
  std::function<void()> on_historical;  // set before run()

  status_report current() override {
    ++current_calls;
    if (on_current) on_current();
    status_report r;
    r.overloaded = current_overloaded;
    return r;
  }
  status_report historical() override {
    ++historical_calls;
    if (on_historical) on_historical();
    status_report r;
    r.overloaded = historical_overloaded;
    r.cpu = r.overloaded ? 1 : 0;
    return r;
  }
};

// The work of a test: `total` items, one per task. A task waits for `release` (a cancellation
// point), so a test decides when tasks end. is_task_ready() counts items neither done nor being
// done, the way a crawler counts requests neither handled nor in progress.
struct work {
  explicit work(int items) : total(items) {}
  const int total;
  autoscaled_pool* pool = nullptr;  // set once the pool exists
  std::atomic<int> started{0};
  std::atomic<int> done{0};
  std::atomic<int> killed{0};
  std::atomic<int> ready_calls{0};
  std::atomic<int> finished_calls{0};
  std::atomic<bool> last_ready{false};
  std::atomic<bool> finish_allowed{true};
  std::atomic<int> finish_asked_wrongly{0};  // while a task ran or one was ready
  std::atomic<int> ready_asked_while_paused{0};
  fiberpool::event release;
  std::function<void(int)> body;  // replaces waiting for release; gets the task's number

  bool ready() {
    ++ready_calls;
    if (pool->paused()) ++ready_asked_while_paused;
    const bool r = done + static_cast<int>(pool->current_concurrency()) < total;
    last_ready = r;
    return r;
  }
  bool finished() {
    ++finished_calls;
    if (pool->current_concurrency() != 0 || last_ready) ++finish_asked_wrongly;
    return done == total && finish_allowed;
  }
  void task() {
    const int n = started++;
    try {
      if (body)
        body(n);
      else
        release.wait();
    } catch (const fiberpool::job_terminated&) {
      ++killed;
      throw;
    }
    ++done;
  }
};

autoscaled_options options_for(work& w, std::shared_ptr<fiberpool::system_status> status, std::size_t desired = 3) {
  autoscaled_options o;
  o.concurrency.min = 1;
  o.concurrency.max = 200;
  o.concurrency.desired = desired;
  o.run_task = [&w] { w.task(); };
  o.is_task_ready = [&w] { return w.ready(); };
  o.is_finished = [&w] { return w.finished(); };
  o.status = std::move(status);
  o.autoscale_interval = std::chrono::hours(1);  // no rescaling unless a test asks for it
  o.maybe_run_interval = std::chrono::milliseconds(1);
  return o;
}

// Runs pool.run() on its own thread while the test drives the pool.
class background_run {
 public:
  explicit background_run(autoscaled_pool& p) : pool_(p), thread_([this] {
    try {
      pool_.run();
    } catch (...) {
      error_ = std::current_exception();
    }
    returned_.set();
  }) {}
  ~background_run() {
    if (thread_.joinable()) {
      pool_.abort();
      thread_.join();
    }
  }
  bool returned() const { return returned_.is_set(); }
  // finish: waits for run() to return (aborting it after patience, which fails the test) and
  // gives what it threw.
  std::exception_ptr finish() {
    const bool in_time = returned_.wait_for(patience);
    CHECK_MESSAGE(in_time, "run() did not return within patience");
    if (!in_time) pool_.abort();
    thread_.join();
    return error_;
  }

 private:
  autoscaled_pool& pool_;
  fiberpool::event returned_;
  std::exception_ptr error_;
  std::thread thread_;  // last: it starts once the rest exists
};

template <class E>
std::string message_of(const std::exception_ptr& e) {
  if (!e) return "<no exception>";
  try {
    std::rethrow_exception(e);
  } catch (const E& x) {
    return x.what();
  } catch (...) {
    return "<another exception>";
  }
}

}  // namespace

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

// --- scaling -----------------------------------------------------------------------------------

namespace {

// The desired concurrency at each autoscale tick, before that tick's change.
struct tick_log {
  std::mutex mu;
  std::vector<std::size_t> desired;
  void hook(scripted_status& s, autoscaled_pool*& pool) {
    s.on_historical = [this, &pool] {
      std::lock_guard lk(mu);
      desired.push_back(pool->desired_concurrency());
    };
  }
  std::vector<std::size_t> snapshot() {
    std::lock_guard lk(mu);
    return desired;
  }
};

// Each tick moved desired by the rule: up by ceil(up * d) to max, or down by ceil(down * d) to min.
void check_steps(const std::vector<std::size_t>& seen, bool up, double ratio, std::size_t bound) {
  REQUIRE(seen.size() >= 2);
  for (std::size_t i = 1; i < seen.size(); ++i) {
    CAPTURE(i);
    const auto d = seen[i - 1];
    const auto step = static_cast<std::size_t>(std::ceil(ratio * static_cast<double>(d)));
    const auto expected = up ? std::min(bound, d + step) : std::max(bound, d > step ? d - step : 0);
    CHECK(seen[i] == expected);
  }
}

}  // namespace

TEST_CASE("idle and busy: desired grows each autoscale_interval by ceil(scale_up_step_ratio * desired), up to max") {
  with_threads([](std::size_t threads) {
    work w(INT_MAX);
    auto status = std::make_shared<scripted_status>();
    tick_log ticks;
    ticks.hook(*status, w.pool);
    auto o = options_for(w, status, 10);
    o.concurrency.max = 20;
    o.autoscale_interval = std::chrono::milliseconds(1);
    autoscaled_pool ap(std::move(o), pool_opts(threads));
    w.pool = &ap;
    background_run run(ap);
    REQUIRE(eventually([&] { return ap.desired_concurrency() == 20; }));
    const int after = status->historical_calls + 3;
    REQUIRE(eventually([&] { return status->historical_calls >= after; }));
    CHECK(ap.desired_concurrency() == 20);  // never above max
    CHECK(eventually([&] { return w.started == 20; }));
    check_steps(ticks.snapshot(), true, 0.05, 20);  // 10, 11, 12, ... 20, 20
    ap.abort();
    CHECK_FALSE(run.finish());
  });
}

TEST_CASE("idle but not busy: desired stays where it is") {
  with_threads([](std::size_t threads) {
    work w(8);  // 8 < floor(0.9 * 10): never busy
    auto status = std::make_shared<scripted_status>();
    auto o = options_for(w, status, 10);
    o.autoscale_interval = std::chrono::milliseconds(1);
    autoscaled_pool ap(std::move(o), pool_opts(threads));
    w.pool = &ap;
    background_run run(ap);
    REQUIRE(eventually([&] { return w.started == 8; }));
    const int after = status->historical_calls + 5;
    REQUIRE(eventually([&] { return status->historical_calls >= after; }));
    CHECK(ap.desired_concurrency() == 10);
    w.release.set();
    CHECK_FALSE(run.finish());
  });
}

TEST_CASE("overloaded: desired shrinks each autoscale_interval by ceil(scale_down_step_ratio * desired), down to min") {
  with_threads([](std::size_t threads) {
    work w(INT_MAX);
    auto status = std::make_shared<scripted_status>();
    status->historical_overloaded = true;
    tick_log ticks;
    ticks.hook(*status, w.pool);
    auto o = options_for(w, status, 10);
    o.concurrency.min = 3;
    o.autoscale_interval = std::chrono::milliseconds(1);
    autoscaled_pool ap(std::move(o), pool_opts(threads));
    w.pool = &ap;
    background_run run(ap);
    REQUIRE(eventually([&] { return ap.desired_concurrency() == 3; }));
    const int after = status->historical_calls + 3;
    REQUIRE(eventually([&] { return status->historical_calls >= after; }));
    CHECK(ap.desired_concurrency() == 3);  // never below min
    check_steps(ticks.snapshot(), false, 0.05, 3);
    CHECK(w.killed == 0);  // scaling down kills nothing
    ap.abort();
    CHECK_FALSE(run.finish());
  });
}

TEST_CASE("the step ratios and the busy ratio are options") {
  with_threads([](std::size_t threads) {
    SUBCASE("scale_up_step_ratio 0.5: 4, 6, 9, 14, 16") {
      work w(INT_MAX);
      auto status = std::make_shared<scripted_status>();
      tick_log ticks;
      ticks.hook(*status, w.pool);
      auto o = options_for(w, status, 4);
      o.concurrency.max = 16;
      o.scale_up_step_ratio = 0.5;
      o.autoscale_interval = std::chrono::milliseconds(1);
      autoscaled_pool ap(std::move(o), pool_opts(threads));
      w.pool = &ap;
      background_run run(ap);
      REQUIRE(eventually([&] { return ap.desired_concurrency() == 16; }));
      const int after = status->historical_calls + 2;
      REQUIRE(eventually([&] { return status->historical_calls >= after; }));
      check_steps(ticks.snapshot(), true, 0.5, 16);
      ap.abort();
      CHECK_FALSE(run.finish());
    }
    SUBCASE("scale_down_step_ratio 0.5: 16, 8, 4, 2, 1") {
      work w(INT_MAX);
      auto status = std::make_shared<scripted_status>();
      status->historical_overloaded = true;
      tick_log ticks;
      ticks.hook(*status, w.pool);
      auto o = options_for(w, status, 16);
      o.scale_down_step_ratio = 0.5;
      o.autoscale_interval = std::chrono::milliseconds(1);
      autoscaled_pool ap(std::move(o), pool_opts(threads));
      w.pool = &ap;
      background_run run(ap);
      REQUIRE(eventually([&] { return ap.desired_concurrency() == 1; }));
      const int after = status->historical_calls + 2;
      REQUIRE(eventually([&] { return status->historical_calls >= after; }));
      check_steps(ticks.snapshot(), false, 0.5, 1);
      ap.abort();
      CHECK_FALSE(run.finish());
    }
    SUBCASE("desired_concurrency_ratio 0.5: 5 running keep 10 and 11 busy, not 12") {
      work w(5);
      auto status = std::make_shared<scripted_status>();
      auto o = options_for(w, status, 10);
      o.desired_concurrency_ratio = 0.5;
      o.autoscale_interval = std::chrono::milliseconds(1);
      autoscaled_pool ap(std::move(o), pool_opts(threads));
      w.pool = &ap;
      background_run run(ap);
      REQUIRE(eventually([&] { return ap.desired_concurrency() == 12; }));
      const int after = status->historical_calls + 5;
      REQUIRE(eventually([&] { return status->historical_calls >= after; }));
      CHECK(ap.desired_concurrency() == 12);
      w.release.set();
      CHECK_FALSE(run.finish());
    }
  });
}

// --- logging -----------------------------------------------------------------------------------

TEST_CASE("a status line at debug level every logging_interval, scaling at debug, a summary at info when run() ends") {
  with_threads([](std::size_t threads) {
    log_capture capture;
    work w(3);
    auto status = std::make_shared<scripted_status>();
    status->historical_overloaded = true;
    auto o = options_for(w, status, 3);
    o.logging_interval = std::chrono::milliseconds(1);
    o.autoscale_interval = std::chrono::milliseconds(1);
    auto p = pool_opts(threads);
    p.name = "crawler";
    p.logger = capture.logger();
    autoscaled_pool ap(std::move(o), p);
    w.pool = &ap;
    background_run run(ap);
    CHECK(eventually([&] {
      return capture.text().find("debug fiberpool: autoscaled_pool 'crawler': current concurrency") != std::string::npos;
    }));
    CHECK(eventually([&] {
      return capture.text().find("debug fiberpool: autoscaled_pool 'crawler': desired concurrency 3 -> 2 (overloaded") !=
             std::string::npos;
    }));
    w.release.set();
    CHECK_FALSE(run.finish());
    const auto text = capture.text();
    INFO(text);
    CHECK(text.find("info fiberpool: autoscaled_pool 'crawler' finished after") != std::string::npos);
    CHECK(text.find("3 tasks started, 3 succeeded, 0 failed, 0 terminated; desired concurrency ") != std::string::npos);
    CHECK(text.find(" (min 1, max 200)") != std::string::npos);
  });
}

TEST_CASE("the summary says how run() ended: aborted, or failed with the exception's message") {
  log_capture capture;
  auto p = pool_opts(1);
  p.logger = capture.logger();
  {
    work w(100);
    autoscaled_pool ap(options_for(w, std::make_shared<scripted_status>(), 2), p);
    w.pool = &ap;
    background_run run(ap);
    REQUIRE(eventually([&] { return w.started == 2; }));
    ap.abort();
    CHECK_FALSE(run.finish());
  }
  CHECK(capture.text().find("'pool' aborted after") != std::string::npos);
  CHECK(capture.text().find("2 tasks started, 0 succeeded, 0 failed, 2 terminated") != std::string::npos);
  CHECK(capture.text().find("not by the pool") == std::string::npos);  // the pool's own kills are not news
  {
    work w(100);
    w.body = [](int) { throw std::runtime_error("no route to host"); };
    autoscaled_pool ap(options_for(w, std::make_shared<scripted_status>(), 1), p);
    w.pool = &ap;
    CHECK_THROWS_WITH_AS(ap.run(), "no route to host", std::runtime_error);
  }
  CHECK(capture.text().find("'pool' failed: no route to host after") != std::string::npos);
  check_no_leaks();
}

// --- the default status on fake cgroup files ----------------------------------------------------

namespace {

autoscaled_options on_fake_cgroup(work& w, const fake_root& root) {
  auto o = options_for(w, nullptr, 5);
  o.concurrency.min = 2;
  o.concurrency.max = 8;
  o.autoscale_interval = std::chrono::milliseconds(1);
  o.status_options.root = root.path();
  o.status_options.sample_interval = std::chrono::milliseconds(1);
  o.status_options.cpu_count = 2;
  // The lag is the machine's own; a bound no scheduler misses keeps these tests off its load.
  o.status_options.max_lag = std::chrono::hours(1);
  return o;
}

}  // namespace

TEST_CASE("the default status on fake cgroup files over their memory limit: only min tasks start, desired falls to min") {
  with_threads([](std::size_t threads) {
    fake_root root;
    root.cgroup_v2("1000", 950);
    work w(INT_MAX);
    autoscaled_pool ap(on_fake_cgroup(w, root), pool_opts(threads));
    w.pool = &ap;
    background_run run(ap);
    REQUIRE(eventually([&] { return ap.desired_concurrency() == 2; }));
    settle();
    CHECK(w.started == 2);
    ap.abort();
    CHECK_FALSE(run.finish());
  });
}

TEST_CASE("the default status on fake cgroup files well under their limits: desired rises to max") {
  with_threads([](std::size_t threads) {
    fake_root root;
    root.cgroup_v2("1000", 100, "100000 100000");
    work w(INT_MAX);
    autoscaled_pool ap(on_fake_cgroup(w, root), pool_opts(threads));
    w.pool = &ap;
    background_run run(ap);
    REQUIRE(eventually([&] { return ap.desired_concurrency() == 8; }));
    CHECK(eventually([&] { return w.started == 8; }));
    ap.abort();
    CHECK_FALSE(run.finish());
  });
}

TEST_CASE("the default status: a cgroup file that disappears ends run() with its error") {
  with_threads([](std::size_t threads) {
    fake_root root;
    root.cgroup_v2("1000", 100);
    work w(INT_MAX);
    autoscaled_pool ap(on_fake_cgroup(w, root), pool_opts(threads));
    w.pool = &ap;
    background_run run(ap);
    REQUIRE(eventually([&] { return w.started >= 2; }));
    root.remove("sys/fs/cgroup/memory.current");
    auto e = run.finish();
    CHECK(message_of<fiberpool::error>(e).find("no longer can") != std::string::npos);
    CHECK(w.killed == w.started);
    CHECK(w.done == 0);
  });
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
