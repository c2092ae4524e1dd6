// humanize: three significant figures below a minute, then minutes and hours.
#include "observe/humanize.hpp"

#include <chrono>

#include <spdlog/fmt/fmt.h>

namespace fiberpool::observe {

std::string humanize(clock::duration d) {
  using namespace std::chrono;
  if (d < clock::duration::zero()) return "-" + humanize(-d);
  const auto ns = duration_cast<nanoseconds>(d).count();
  if (ns == 0) return "0s";
  if (ns < 1'000) return fmt::format("{}ns", ns);
  if (ns < 1'000'000) return fmt::format("{:.3g}us", static_cast<double>(ns) / 1e3);
  if (ns < 1'000'000'000) return fmt::format("{:.3g}ms", static_cast<double>(ns) / 1e6);
  const auto s = ns / 1'000'000'000;
  if (s < 60) return fmt::format("{:.2f}s", static_cast<double>(ns) / 1e9);
  if (s < 3600) return fmt::format("{}m{:02}s", s / 60, s % 60);
  return fmt::format("{}h{:02}m", s / 3600, s % 3600 / 60);
}

}  // namespace fiberpool::observe
