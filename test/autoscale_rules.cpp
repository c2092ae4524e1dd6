// The autoscaled pool's pure rules, with explicit numbers and times: the scaling rule, the sliding
// window of max_tasks_per_minute, sample windows, and the validation of concurrency_settings.
#include <chrono>
#include <cmath>
#include <limits>
#include <stdexcept>

#include <doctest/doctest.h>

#include <fiberpool/autoscaled_pool.hpp>

#include "autoscale/sample_history.hpp"
#include "autoscale/scaling_rule.hpp"
#include "autoscale/start_window.hpp"

using fiberpool::concurrency_settings;
using fiberpool::detail::next_desired;
using fiberpool::detail::sample_history;
using fiberpool::detail::scaling_ratios;
using fiberpool::detail::start_window;
using namespace std::chrono_literals;

namespace {

concurrency_settings settings(std::size_t min, std::size_t max, std::size_t desired) {
  concurrency_settings s;
  s.min = min;
  s.max = max;
  s.desired = desired;
  return s;
}

}  // namespace

TEST_CASE("idle and busy: desired grows by ceil(scale_up_step_ratio * desired), up to max") {
  const auto s = settings(1, 200, 10);
  const scaling_ratios r{};  // Crawlee's: 0.05 up, 0.05 down, busy at 0.9
  CHECK(next_desired(10, 9, false, s, r) == 11);     // ceil(0.5) = 1; busy: 9 >= floor(9)
  CHECK(next_desired(100, 90, false, s, r) == 105);  // ceil(5) = 5
  CHECK(next_desired(101, 100, false, s, r) == 107); // ceil(5.05) = 6
  CHECK(next_desired(199, 199, false, s, r) == 200); // capped at max
  CHECK(next_desired(200, 200, false, s, r) == 200);
  CHECK(next_desired(10, 9, false, s, scaling_ratios{0.5, 0.05, 0.9}) == 15);
}

TEST_CASE("idle but not busy: desired stays, since more room would go unused") {
  const auto s = settings(1, 200, 10);
  CHECK(next_desired(10, 8, false, s, scaling_ratios{}) == 10);   // 8 < floor(0.9 * 10)
  CHECK(next_desired(100, 89, false, s, scaling_ratios{}) == 100);
  CHECK(next_desired(10, 5, false, s, scaling_ratios{0.05, 0.05, 0.5}) == 11);  // busy at floor(5)
  CHECK(next_desired(11, 5, false, s, scaling_ratios{0.05, 0.05, 0.5}) == 12);  // floor(5.5) = 5
  CHECK(next_desired(12, 5, false, s, scaling_ratios{0.05, 0.05, 0.5}) == 12);  // floor(6) = 6 > 5
}

TEST_CASE("overloaded: desired shrinks by ceil(scale_down_step_ratio * desired), down to min, busy or not") {
  const auto s = settings(3, 200, 10);
  const scaling_ratios r{};
  CHECK(next_desired(10, 10, true, s, r) == 9);
  CHECK(next_desired(10, 0, true, s, r) == 9);
  CHECK(next_desired(100, 0, true, s, r) == 95);
  CHECK(next_desired(4, 0, true, s, r) == 3);
  CHECK(next_desired(3, 0, true, s, r) == 3);
  CHECK(next_desired(10, 0, true, s, scaling_ratios{0.05, 0.9, 0.9}) == 3);  // 10 - 9 < min
}

TEST_CASE("desired never leaves [min, max], even from a value outside it") {
  const auto s = settings(5, 8, 5);
  for (bool overloaded : {false, true})
    for (std::size_t desired : {std::size_t{0}, std::size_t{1}, std::size_t{5}, std::size_t{8}, std::size_t{50}})
      for (std::size_t current : {std::size_t{0}, std::size_t{8}, std::size_t{100}}) {
        CAPTURE(overloaded);
        CAPTURE(desired);
        CAPTURE(current);
        const auto next = next_desired(desired, current, overloaded, s, scaling_ratios{3.0, 3.0, 0.9});
        CHECK(next >= s.min);
        CHECK(next <= s.max);
      }
}

TEST_CASE("max_tasks_per_minute: a burst up to the limit, then one start per start leaving the window") {
  const auto t0 = fiberpool::clock::time_point{} + 1h;
  start_window w(3);
  for (int i = 0; i < 3; ++i) {
    REQUIRE(w.allows(t0));
    w.record(t0);  // all three at once: a sliding window, not one start every 20 s
  }
  CHECK_FALSE(w.allows(t0));
  CHECK_FALSE(w.allows(t0 + 59s));
  CHECK(w.opens_at(t0 + 1s) == t0 + 60s);
  CHECK(w.allows(t0 + 60s));  // the three left together
  w.record(t0 + 60s);
  w.record(t0 + 70s);
  w.record(t0 + 80s);
  CHECK_FALSE(w.allows(t0 + 119s));
  CHECK(w.opens_at(t0 + 119s) == t0 + 120s);
  CHECK(w.allows(t0 + 120s));
  w.record(t0 + 120s);
  CHECK_FALSE(w.allows(t0 + 129s));  // 70, 80 and 120 are in the window
  CHECK(w.allows(t0 + 130s));
}

TEST_CASE("max_tasks_per_minute: a lowered limit waits for enough starts to leave; a fraction rounds up") {
  const auto t0 = fiberpool::clock::time_point{} + 1h;
  start_window w(5);
  for (int i = 0; i < 5; ++i) w.record(t0 + std::chrono::seconds(i));
  w.set_limit(2);
  CHECK_FALSE(w.allows(t0 + 10s));
  // Fewer than 2 may remain: the starts at 0, 1, 2 and 3 s must leave the window.
  CHECK(w.opens_at(t0 + 10s) == t0 + 63s);
  CHECK_FALSE(w.allows(t0 + 62s));
  CHECK(w.allows(t0 + 63s));

  start_window half(0.5);
  CHECK(half.allows(t0));
  half.record(t0);
  CHECK_FALSE(half.allows(t0 + 30s));
  CHECK(half.allows(t0 + 60s));
}

TEST_CASE("max_tasks_per_minute: infinity never holds a start back and keeps no history") {
  start_window w(std::numeric_limits<double>::infinity());
  const auto t0 = fiberpool::clock::time_point{} + 1h;
  for (int i = 0; i < 10000; ++i) w.record(t0);
  CHECK(w.allows(t0));
  CHECK_FALSE(w.opens_at(t0).has_value());
}

TEST_CASE("sample_history: the share of overloaded samples since a time, and forgetting old ones") {
  const auto t0 = fiberpool::clock::time_point{} + 1h;
  sample_history h;
  CHECK(h.overloaded_share(t0) == 0);  // no samples: no overload
  h.add(t0, true);
  h.add(t0 + 1s, false);
  h.add(t0 + 2s, true);
  h.add(t0 + 3s, false);
  CHECK(h.overloaded_share(t0) == doctest::Approx(0.5));
  CHECK(h.overloaded_share(t0 + 1s) == doctest::Approx(1.0 / 3));
  CHECK(h.overloaded_share(t0 + 3s) == 0);
  CHECK(h.overloaded_share(t0 + 4s) == 0);
  h.forget_before(t0 + 2s);
  CHECK(h.size() == 2);
  CHECK(h.overloaded_share(t0) == doctest::Approx(0.5));
}

TEST_CASE("concurrency_settings: the defaults are valid; each bad value throws a message that says what to change") {
  concurrency_settings ok;
  CHECK_NOTHROW(ok.validate());
  CHECK(ok.min == 1);
  CHECK(ok.max == 200);
  CHECK(ok.desired == 10);
  CHECK(std::isinf(ok.max_tasks_per_minute));

  auto bad = ok;
  bad.min = 0;
  bad.desired = 0;
  CHECK_THROWS_WITH_AS(bad.validate(), doctest::Contains("min is 0; make it at least 1"), std::invalid_argument);
  bad = ok;
  bad.min = 20;
  bad.max = 10;
  CHECK_THROWS_WITH_AS(bad.validate(), doctest::Contains("max (10) is below min (20)"), std::invalid_argument);
  bad = ok;
  bad.desired = 201;
  CHECK_THROWS_WITH_AS(bad.validate(), doctest::Contains("desired (201) is outside [min, max] = [1, 200]"),
                       std::invalid_argument);
  bad = ok;
  bad.min = 5;
  bad.desired = 4;
  CHECK_THROWS_AS(bad.validate(), std::invalid_argument);
  for (double rate : {0.0, -1.0, std::numeric_limits<double>::quiet_NaN()}) {
    bad = ok;
    bad.max_tasks_per_minute = rate;
    CHECK_THROWS_WITH_AS(bad.validate(), doctest::Contains("max_tasks_per_minute"), std::invalid_argument);
  }
  auto edge = ok;
  edge.min = edge.desired = edge.max = 1;
  edge.max_tasks_per_minute = 0.1;
  CHECK_NOTHROW(edge.validate());
}
