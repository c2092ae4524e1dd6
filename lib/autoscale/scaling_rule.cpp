// scaling_rule: Crawlee's rule for moving the desired concurrency, as a pure function.
#include "autoscale/scaling_rule.hpp"

#include <algorithm>
#include <cmath>

namespace fiberpool::detail {

namespace {

std::size_t step(double ratio, std::size_t desired) {
  return static_cast<std::size_t>(std::ceil(ratio * static_cast<double>(desired)));
}

}  // namespace

std::size_t next_desired(std::size_t desired, std::size_t current, bool overloaded, const concurrency_settings& s,
                         const scaling_ratios& r) {
  desired = std::clamp(desired, s.min, s.max);
  if (overloaded) {
    const auto down = step(r.scale_down_step, desired);
    return desired > s.min + down ? desired - down : s.min;
  }
  const auto busy_at = static_cast<std::size_t>(std::floor(r.busy * static_cast<double>(desired)));
  if (current < busy_at) return desired;
  const auto up = step(r.scale_up_step, desired);
  return s.max - desired > up ? desired + up : s.max;
}

}  // namespace fiberpool::detail
