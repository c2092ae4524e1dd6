// tick_clock: whether the counter can be used, and its rate, measured once.
#include "base/tick_clock.hpp"

#include <cstdint>

#if defined(__x86_64__) || defined(__i386__)
#include <cpuid.h>
#endif
#if defined(FIBERPOOL_VALGRIND)
#include <valgrind/valgrind.h>
#endif

namespace fiberpool::base::tick_clock {

namespace {

using std::chrono::steady_clock;

// A clock read and the counter around it; `width` ticks apart (wide when the thread was
// preempted between the reads).
struct paired_read {
  steady_clock::time_point time;
  std::uint64_t tick;
  std::uint64_t width;
};

// paired_read: the narrowest of a few tries, so a preemption inside one does not skew the rate.
paired_read read_pair() noexcept {
  paired_read best{{}, 0, UINT64_MAX};
  for (int i = 0; i < 5; ++i) {
    const std::uint64_t before = now();
    const auto t = steady_clock::now();
    const std::uint64_t after = now();
    if (after >= before && after - before < best.width) best = {t, before + (after - before) / 2, after - before};
  }
  return best;
}

}  // namespace

// The counter's rate against steady_clock over 1 ms, measured once per process the first time a
// span is converted; each end is a clock read bracketed by two counter reads, so the error is
// about a clock read's cost over the span (~0.01%), far within what a fairness slice needs.
double measure_ns_per_tick() noexcept {
  if (!uses_counter()) return 1.0;
  const paired_read start = read_pair();
  while (steady_clock::now() - start.time < std::chrono::milliseconds(1)) {
  }
  const paired_read end = read_pair();
  // No pair whose counter moved forward: the counter is no use here.
  if (start.width == UINT64_MAX || end.width == UINT64_MAX || end.tick <= start.tick) return 1.0;
  return static_cast<double>(std::chrono::duration_cast<std::chrono::nanoseconds>(end.time - start.time).count()) /
         static_cast<double>(end.tick - start.tick);
}

bool counter_is_invariant() noexcept {
#if defined(FIBERPOOL_VALGRIND)
  // valgrind's counter is its own and does not keep pace with the clock: ticks are ns there.
  if (RUNNING_ON_VALGRIND) return false;
#endif
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
