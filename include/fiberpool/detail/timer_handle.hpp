// timer_handle: names one entry in a runtime thread's timer queue, so it can be cancelled.
#pragma once

#include <cstdint>

#include <fiberpool/types.hpp>

namespace fiberpool::detail {

struct timer_handle {
  std::uint64_t id = 0;          // 0: nothing armed
  clock::time_point when{};
  std::uint32_t thread = 0;      // the slot whose queue holds it (a hint: restart moves entries)
  explicit operator bool() const noexcept { return id != 0; }
};

}  // namespace fiberpool::detail
