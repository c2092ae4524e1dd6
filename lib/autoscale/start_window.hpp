// start_window: max_tasks_per_minute as a sliding 60-second window of task starts.
#pragma once

#include <chrono>
#include <deque>
#include <optional>

#include <fiberpool/types.hpp>

namespace fiberpool::detail {

// A burst up to the limit may start at once; after that, one more may start each time the oldest
// start leaves the window. (Even spacing, limit/60 per second, would hold a burst back for nothing.)
class start_window {
 public:
  static constexpr clock::duration length = std::chrono::minutes(1);

  explicit start_window(double max_per_minute) : max_(max_per_minute) {}
  // set_limit: a new limit, applied to the starts already in the window.
  void set_limit(double max_per_minute) { max_ = max_per_minute; }
  // allows: fewer than the limit started in (now - 60 s, now].
  bool allows(clock::time_point now);
  // record: a start at now. Starts are not kept without a limit.
  void record(clock::time_point now);
  // opens_at: when allows() turns true again; nullopt while it is true.
  std::optional<clock::time_point> opens_at(clock::time_point now);

 private:
  void forget(clock::time_point now);
  double max_;
  std::deque<clock::time_point> starts_;
};

}  // namespace fiberpool::detail
