// autoscaled_pool's desired concurrency: the scaling rule at work every autoscale_interval (on a
// scripted status, and on the default one over fake cgroup files), and its log lines. Nothing here
// reads the machine's real load.
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

// --- scaling -----------------------------------------------------------------------------------

namespace {

// What each autoscale tick saw, before that tick's change: desired, and the tasks running then.
struct tick {
  std::size_t desired;
  std::size_t running;
};

struct tick_log {
  std::mutex mu;
  std::vector<tick> ticks;
  void hook(scripted_status& s, autoscaled_pool*& pool) {
    s.on_historical = [this, &pool] {
      std::lock_guard lk(mu);
      ticks.push_back({pool->desired_concurrency(), pool->current_concurrency()});
    };
  }
  std::vector<tick> snapshot() {
    std::lock_guard lk(mu);
    return ticks;
  }
};

// Each tick moved desired by the rule: down by ceil(down * d) to min; or, once the pool was busy
// (running >= floor(0.9 * d)), up by ceil(up * d) to max. The tasks here never end, so running
// only grows: a tick that read "busy" must step up, while one that read "not yet busy" (a slow
// machine starting tasks late) may hold or, if tasks started before the rule ran, step up.
void check_steps(const std::vector<tick>& seen, bool up, double ratio, std::size_t bound) {
  REQUIRE(seen.size() >= 2);
  for (std::size_t i = 1; i < seen.size(); ++i) {
    CAPTURE(i);
    const auto d = seen[i - 1].desired;
    const auto step = static_cast<std::size_t>(std::ceil(ratio * static_cast<double>(d)));
    const auto expected = up ? std::min(bound, d + step) : std::max(bound, d > step ? d - step : 0);
    const auto busy_at = static_cast<std::size_t>(std::floor(0.9 * static_cast<double>(d)));
    if (up && seen[i - 1].running < busy_at) {
      CHECK((seen[i].desired == d || seen[i].desired == expected));
    } else {
      CHECK(seen[i].desired == expected);
    }
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
