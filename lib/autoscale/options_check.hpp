// options_check: the checks autoscaled_pool's constructor makes of its options.
#pragma once

#include <fiberpool/autoscaled_pool.hpp>

namespace fiberpool::detail {

// check: throws std::invalid_argument, saying what to change, for a missing function, invalid
// concurrency settings, a zero or negative interval, or a ratio out of range.
void check(const autoscaled_options& o);

}  // namespace fiberpool::detail
