// sample_history: one resource's samples (when, and whether it was overloaded) over a window.
#include "autoscale/sample_history.hpp"

#include <algorithm>

namespace fiberpool::detail {

void sample_history::add(clock::time_point at, bool overloaded) { samples_.push_back({at, overloaded}); }

void sample_history::forget_before(clock::time_point t) {
  while (!samples_.empty() && samples_.front().at < t) samples_.pop_front();
}

double sample_history::overloaded_share(clock::time_point since) const {
  auto first = std::lower_bound(samples_.begin(), samples_.end(), since,
                                [](const sample& s, clock::time_point t) { return s.at < t; });
  const auto n = std::distance(first, samples_.end());
  if (n == 0) return 0;
  const auto over = std::count_if(first, samples_.end(), [](const sample& s) { return s.overloaded; });
  return static_cast<double>(over) / static_cast<double>(n);
}

}  // namespace fiberpool::detail
