// tick_clock: whether the counter can be used, and its rate, measured once.
#include "base/tick_clock.hpp"

#if defined(__x86_64__) || defined(__i386__)
#include <cpuid.h>
#endif

namespace fiberpool::base::tick_clock {

// The rate against steady_clock over a 200 us spin, the first time a span is converted: against a
// clock read that costs tens of ns, well within the 1% a fairness slice needs.
double measure_ns_per_tick() noexcept {
  using std::chrono::steady_clock;
  if (!uses_counter()) return 1.0;
  const auto t0 = steady_clock::now();
  const std::uint64_t c0 = now();
  auto t1 = t0;
  while (t1 - t0 < std::chrono::microseconds(200)) t1 = steady_clock::now();
  const std::uint64_t c1 = now();
  if (c1 <= c0) return 1.0;
  return static_cast<double>(std::chrono::duration_cast<std::chrono::nanoseconds>(t1 - t0).count()) /
         static_cast<double>(c1 - c0);
}

bool counter_is_invariant() noexcept {
#if defined(__x86_64__) || defined(__i386__)
  unsigned eax = 0, ebx = 0, ecx = 0, edx = 0;
  if (!__get_cpuid(0x80000000u, &eax, &ebx, &ecx, &edx) || eax < 0x80000007u) return false;
  if (!__get_cpuid(0x80000007u, &eax, &ebx, &ecx, &edx)) return false;
  return (edx & (1u << 8)) != 0;  // "Invariant TSC"
#else
  return false;
#endif
}

}  // namespace fiberpool::base::tick_clock
