// tick_clock: the CPU's time-stamp counter, for spans measured on the hot path.
#pragma once

#include <chrono>
#include <cstdint>

#if defined(__x86_64__) || defined(__i386__)
#include <x86intrin.h>
#endif

namespace fiberpool::base::tick_clock {

// A carrier reads the time after every task: to end its fairness slice, and as the next task's
// start time. steady_clock::now() costs 36 ns through the vDSO on the VM this is built on (a tenth
// of a no-op job); the counter costs 15. Ticks only measure spans from an anchor read with
// steady_clock, and only short ones (a slice, <= 100 us), so the rate needs no more than the rough
// calibration tick_clock.cpp does once per process.
//
// Where the counter cannot be trusted to tick at a constant rate (no invariant TSC), or on other
// CPUs, and under valgrind, ticks are steady_clock nanoseconds.

// counter_is_invariant: the CPU says its counter ticks at a constant rate in every power state.
bool counter_is_invariant() noexcept;
inline bool uses_counter() noexcept {
  static const bool invariant = counter_is_invariant();
  return invariant;
}

inline std::uint64_t now() noexcept {
#if defined(__x86_64__) || defined(__i386__)
  if (uses_counter()) [[likely]] return __rdtsc();
#endif
  return static_cast<std::uint64_t>(
      std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now().time_since_epoch())
          .count());
}

// measure_ns_per_tick: the counter's rate, measured (tick_clock.cpp); 1 when ticks are ns.
double measure_ns_per_tick() noexcept;
inline double ns_per_tick() noexcept {
  static const double rate = measure_ns_per_tick();
  return rate;
}

// ticks_in: how many ticks `d` spans (at least 1).
inline std::uint64_t ticks_in(std::chrono::nanoseconds d) noexcept {
  const double t = static_cast<double>(d.count()) / ns_per_tick();
  return t < 1.0 ? 1 : static_cast<std::uint64_t>(t);
}
// span_of: the duration of `ticks` ticks.
inline std::chrono::nanoseconds span_of(std::uint64_t ticks) noexcept {
  return std::chrono::nanoseconds(static_cast<std::int64_t>(static_cast<double>(ticks) * ns_per_tick()));
}

// ns_of: span_of() in whole nanoseconds, with a fixed-point multiply instead of floating point
// (a job's run time is converted at every job's end).
__extension__ using uint128 = unsigned __int128;  // GCC's and Clang's, on 64-bit targets
inline std::uint64_t ns_of(std::uint64_t ticks) noexcept {
  static const std::uint64_t ns_per_tick_q32 = static_cast<std::uint64_t>(ns_per_tick() * 4294967296.0);
  return static_cast<std::uint64_t>((static_cast<uint128>(ticks) * ns_per_tick_q32) >> 32);
}

}  // namespace fiberpool::base::tick_clock
