// scaling_rule: Crawlee's rule for moving the desired concurrency, as a pure function.
#pragma once

#include <cstddef>

#include <fiberpool/autoscaled_pool.hpp>

namespace fiberpool::detail {

struct scaling_ratios {
  double scale_up_step = 0.05;
  double scale_down_step = 0.05;
  double busy = 0.9;  // desired_concurrency_ratio
};

// next_desired: from the historical status. Overloaded: desired - ceil(down * desired), not below
// min. Idle and busy (current >= floor(busy * desired)): desired + ceil(up * desired), not above
// max. Idle and not busy: unchanged, since more room would go unused. The result is always within
// [s.min, s.max], even for a `desired` that was outside it.
std::size_t next_desired(std::size_t desired, std::size_t current, bool overloaded, const concurrency_settings& s,
                         const scaling_ratios& r);

}  // namespace fiberpool::detail
