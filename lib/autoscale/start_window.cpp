// start_window: max_tasks_per_minute as a sliding 60-second window of task starts.
#include "autoscale/start_window.hpp"

#include <cmath>

namespace fiberpool::detail {

void start_window::forget(clock::time_point now) {
  while (!starts_.empty() && starts_.front() <= now - length) starts_.pop_front();
}

bool start_window::allows(clock::time_point now) {
  if (std::isinf(max_)) return true;
  forget(now);
  return static_cast<double>(starts_.size()) < max_;
}

void start_window::record(clock::time_point now) {
  if (!std::isinf(max_)) starts_.push_back(now);
}

std::optional<clock::time_point> start_window::opens_at(clock::time_point now) {
  if (allows(now)) return std::nullopt;
  // Enough of the oldest starts must leave for the count to drop below the limit (more than one
  // when the limit was lowered under the count).
  const auto must_leave = starts_.size() - static_cast<std::size_t>(std::ceil(max_)) + 1;
  return starts_[must_leave - 1] + length;
}

}  // namespace fiberpool::detail
