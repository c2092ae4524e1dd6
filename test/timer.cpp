// A pool's timer(): one-shot and repeating callbacks, cancel/clear/pending, bad arguments, errors,
// and shutdown with timers pending.
#include <atomic>
#include <functional>
#include <memory>
#include <stdexcept>
#include <string>
#include <thread>

#include <boost/fiber/operations.hpp>

#include "support.hpp"

using namespace fiberpool_test;
using std::chrono::milliseconds;

namespace {

// wait_past: waits until a one-shot set for `t` has fired, so every timer due before `t` has had its
// turn (a witness for "this never fired").
void wait_past(fiberpool::timer& tm, fiberpool::clock::time_point t) {
  auto witness = std::make_shared<fiberpool::event>();
  tm.call_at(t, [witness] { witness->set(); });
  CHECK(witness->wait_for(patience));
}

struct not_a_std_exception {};

}  // namespace

TEST_CASE("call_after runs the callback once, on a fiber of the pool's runtime") {
  with_threads([](std::size_t threads) {
    fiberpool::event fired;
    std::atomic<int> calls{0};
    std::atomic<fiberpool::runtime*> where{nullptr};
    fiberpool::task_pool pool(pool_opts(threads));
    pool.start();
    auto& tm = pool.timer();

    auto r = tm.call_after(milliseconds(1), [&] {
      where = fiberpool::runtime::current();
      calls.fetch_add(1);
      fired.set();
    });
    CHECK(r.valid());
    REQUIRE(fired.wait_for(patience));
    CHECK(where.load() == &pool.runtime());
    CHECK(where.load() != nullptr);
    CHECK(eventually([&] { return tm.pending() == 0; }));
    CHECK_FALSE(tm.cancel(r));  // it already fired

    wait_past(tm, fiberpool::clock::now() + milliseconds(10));
    CHECK(calls.load() == 1);
  });
}

TEST_CASE("timer callbacks are not jobs: they run with limit 0 and have no job id") {
  with_threads([](std::size_t threads) {
    fiberpool::event fired;
    std::atomic<fiberpool::job_id> id{12345};
    fiberpool::task_pool pool(pool_opts(threads, 0));
    pool.start();
    pool.timer().call_after(milliseconds(1), [&] {
      id = fiberpool::this_job::id();
      fired.set();
    });
    REQUIRE(fired.wait_for(patience));
    CHECK(id.load() == 0);
    CHECK(pool.running() == 0);
  });
}

TEST_CASE("the timer of a pool on a shared runtime runs callbacks on that runtime") {
  with_threads([](std::size_t threads) {
    fiberpool::event fired;
    std::atomic<fiberpool::runtime*> where{nullptr};
    fiberpool::runtime_options ro;
    ro.threads = threads;
    fiberpool::runtime rt(ro);
    fiberpool::task_pool pool(rt, pool_opts(threads));
    pool.start();
    pool.timer().call_after(milliseconds(1), [&] {
      where = fiberpool::runtime::current();
      fired.set();
    });
    REQUIRE(fired.wait_for(patience));
    CHECK(where.load() == &rt);
  });
}

TEST_CASE("call_at runs the callback at the given time, and at once for a time already past") {
  with_threads([](std::size_t threads) {
    fiberpool::event future_fired;
    fiberpool::event past_fired;
    std::atomic<bool> early{false};
    fiberpool::task_pool pool(pool_opts(threads));
    pool.start();
    auto due = fiberpool::clock::now() + milliseconds(5);
    pool.timer().call_at(due, [&] {
      if (fiberpool::clock::now() < due) early = true;
      future_fired.set();
    });
    pool.timer().call_at(fiberpool::clock::now() - std::chrono::seconds(1), [&] { past_fired.set(); });
    CHECK(past_fired.wait_for(patience));
    CHECK(future_fired.wait_for(patience));
    CHECK_FALSE(early.load());
  });
}

TEST_CASE("call_repeatedly fires again and again until cancelled") {
  with_threads([](std::size_t threads) {
    std::atomic<int> count{0};
    fiberpool::event third;
    fiberpool::task_pool pool(pool_opts(threads));
    pool.start();
    auto& tm = pool.timer();
    auto r = tm.call_repeatedly(milliseconds(1), [&] {
      if (count.fetch_add(1) + 1 == 3) third.set();
    });
    REQUIRE(third.wait_for(patience));
    CHECK(tm.pending() == 1);  // a repeating callback stays pending after it fired

    CHECK(tm.cancel(r));
    int at_cancel = count.load();
    CHECK(tm.pending() == 0);
    wait_past(tm, fiberpool::clock::now() + milliseconds(30));
    CHECK(count.load() <= at_cancel + 1);  // at most the run that was already going
    CHECK_FALSE(tm.cancel(r));             // already cancelled
  });
}

TEST_CASE("cancel is true for a pending one-shot, which then never fires, and false after") {
  with_threads([](std::size_t threads) {
    std::atomic<bool> long_fired{false};
    std::atomic<bool> short_fired{false};
    fiberpool::task_pool pool(pool_opts(threads));
    pool.start();
    auto& tm = pool.timer();

    auto far = tm.call_after(std::chrono::hours(1), [&] { long_fired = true; });
    CHECK(tm.pending() == 1);
    CHECK(tm.cancel(far));
    CHECK(tm.pending() == 0);
    CHECK_FALSE(tm.cancel(far));

    // A near one: cancelled in time unless the machine stalled for its whole delay.
    auto t0 = fiberpool::clock::now();
    auto near = tm.call_after(milliseconds(100), [&] { short_fired = true; });
    bool cancelled = tm.cancel(near);
    if (fiberpool::clock::now() - t0 < milliseconds(100)) CHECK(cancelled);
    CHECK_FALSE(tm.cancel(near));
    wait_past(tm, t0 + milliseconds(300));
    if (cancelled) CHECK_FALSE(short_fired.load());
    CHECK_FALSE(long_fired.load());
  });
}

TEST_CASE("clear cancels every pending callback and the timer keeps working") {
  with_threads([](std::size_t threads) {
    std::atomic<int> fired{0};
    fiberpool::event after_clear;
    fiberpool::task_pool pool(pool_opts(threads));
    pool.start();
    auto& tm = pool.timer();

    auto a = tm.call_after(std::chrono::hours(1), [&] { fired.fetch_add(1); });
    auto b = tm.call_at(fiberpool::clock::now() + std::chrono::hours(1), [&] { fired.fetch_add(1); });
    auto c = tm.call_repeatedly(std::chrono::hours(1), [&] { fired.fetch_add(1); });
    auto t0 = fiberpool::clock::now();
    for (int i = 0; i < 3; ++i) tm.call_after(milliseconds(50), [&] { fired.fetch_add(1); });
    auto pending_before = tm.pending();
    tm.clear();
    // Unless the machine stalled past the short delay, nothing had fired before clear().
    bool in_time = fiberpool::clock::now() - t0 < milliseconds(50);
    if (in_time) CHECK(pending_before == 6);
    CHECK(pending_before >= 3);
    CHECK(tm.pending() == 0);
    CHECK_FALSE(tm.cancel(a));
    CHECK_FALSE(tm.cancel(b));
    CHECK_FALSE(tm.cancel(c));

    wait_past(tm, t0 + milliseconds(150));
    if (in_time) CHECK(fired.load() == 0);

    tm.call_after(milliseconds(1), [&] { after_clear.set(); });
    CHECK(after_clear.wait_for(patience));
  });
}

TEST_CASE("pending counts one-shots not yet fired and repeating callbacks not cancelled") {
  with_threads([](std::size_t threads) {
    fiberpool::event fired;
    fiberpool::task_pool pool(pool_opts(threads));
    pool.start();
    auto& tm = pool.timer();
    CHECK(tm.pending() == 0);
    auto one = tm.call_after(std::chrono::hours(1), [] {});
    CHECK(tm.pending() == 1);
    auto rep = tm.call_repeatedly(std::chrono::hours(1), [] {});
    CHECK(tm.pending() == 2);
    tm.call_after(milliseconds(1), [&] { fired.set(); });
    REQUIRE(fired.wait_for(patience));
    CHECK(eventually([&] { return tm.pending() == 2; }));
    CHECK(tm.cancel(one));
    CHECK(tm.pending() == 1);
    CHECK(tm.cancel(rep));
    CHECK(tm.pending() == 0);
  });
}

TEST_CASE("a zero or negative interval and an empty callback throw std::invalid_argument") {
  with_threads([](std::size_t threads) {
    fiberpool::task_pool pool(pool_opts(threads));
    pool.start();
    auto& tm = pool.timer();
    auto noop = [] {};
    CHECK_THROWS_AS(tm.call_repeatedly(milliseconds(0), noop), std::invalid_argument);
    CHECK_THROWS_AS(tm.call_repeatedly(milliseconds(-5), noop), std::invalid_argument);
    CHECK_THROWS_AS(tm.call_after(milliseconds(1), std::function<void()>{}), std::invalid_argument);
    CHECK_THROWS_AS(tm.call_at(fiberpool::clock::now(), std::function<void()>{}), std::invalid_argument);
    CHECK_THROWS_AS(tm.call_repeatedly(milliseconds(1), std::function<void()>{}), std::invalid_argument);
    CHECK(tm.pending() == 0);
  });
}

TEST_CASE("a throwing callback is logged through the pool logger and a repeating one goes on") {
  with_threads([](std::size_t threads) {
    log_capture cap;
    std::atomic<int> count{0};
    fiberpool::event third;
    fiberpool::event after_errors;
    auto opts = pool_opts(threads);
    opts.logger = cap.logger();
    fiberpool::task_pool pool(std::move(opts));
    pool.start();
    auto& tm = pool.timer();

    tm.call_after(milliseconds(1), [] { throw std::runtime_error("one-shot-boom"); });
    tm.call_after(milliseconds(1), [] { throw not_a_std_exception{}; });
    auto r = tm.call_repeatedly(milliseconds(1), [&] {
      int n = count.fetch_add(1) + 1;
      if (n == 3) third.set();
      if (n == 1) throw std::runtime_error("repeat-boom");
    });
    REQUIRE(third.wait_for(patience));  // it fired twice more after throwing
    CHECK(tm.cancel(r));
    CHECK(eventually([&] {
      auto text = cap.text();
      return text.find("one-shot-boom") != std::string::npos &&
             text.find("repeat-boom") != std::string::npos;
    }));
    tm.call_after(milliseconds(1), [&] { after_errors.set(); });
    CHECK(after_errors.wait_for(patience));
  });
}

TEST_CASE("destroying a pool with pending timers leaves no fiber and releases the callbacks") {
  with_threads([](std::size_t threads) {
    auto token = std::make_shared<int>(0);
    std::weak_ptr<int> watch = token;
    fiberpool::event repeating_ran;
    {
      fiberpool::task_pool pool(pool_opts(threads));
      pool.start();
      pool.timer().call_after(std::chrono::hours(1), [token] {});
      pool.timer().call_repeatedly(milliseconds(1), [token, &repeating_ran] { repeating_ran.set(); });
      token.reset();
      REQUIRE(repeating_ran.wait_for(patience));
      CHECK(pool.timer().pending() == 2);
    }
    CHECK(watch.expired());
  });
}

TEST_CASE("destroying a pool waits for a timer callback that is still running") {
  with_threads([](std::size_t threads) {
    fiberpool::event started;
    std::atomic<bool> finished{false};
    {
      fiberpool::task_pool pool(pool_opts(threads));
      pool.start();
      pool.timer().call_after(milliseconds(1), [&] {
        started.set();
        boost::this_fiber::sleep_for(milliseconds(20));
        finished = true;
      });
      REQUIRE(started.wait_for(patience));
    }
    CHECK(finished.load());
  });
}
