// humanize: three significant figures below a minute, then minutes and hours. Plain snprintf, so
// that fiberpool-ctl, which links no runtime and no logging, can build this file too.
#include "observe/humanize.hpp"

#include <chrono>
#include <cstdio>

namespace fiberpool::observe {

std::string humanize(clock::duration d) {
  using namespace std::chrono;
  if (d < clock::duration::zero()) return "-" + humanize(-d);
  const auto ns = duration_cast<nanoseconds>(d).count();
  char buf[32];
  if (ns == 0) return "0s";
  if (ns < 1'000) std::snprintf(buf, sizeof buf, "%lldns", static_cast<long long>(ns));
  else if (ns < 1'000'000) std::snprintf(buf, sizeof buf, "%.3gus", static_cast<double>(ns) / 1e3);
  else if (ns < 1'000'000'000) std::snprintf(buf, sizeof buf, "%.3gms", static_cast<double>(ns) / 1e6);
  else {
    const long long s = ns / 1'000'000'000;
    if (s < 60) std::snprintf(buf, sizeof buf, "%.2fs", static_cast<double>(ns) / 1e9);
    else if (s < 3600) std::snprintf(buf, sizeof buf, "%lldm%02llds", s / 60, s % 60);
    else std::snprintf(buf, sizeof buf, "%lldh%02lldm", s / 3600, s % 3600 / 60);
  }
  return buf;
}

}  // namespace fiberpool::observe
