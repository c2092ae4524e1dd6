// bench_util: the few helpers every fiberpool benchmark shares (arguments, RSS, percentiles, output).
#pragma once

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <string>
#include <vector>

#include <unistd.h>

namespace bench {

using clock = std::chrono::steady_clock;

// arg: the i-th command-line argument as a number, or `fallback` (the small default that
// `meson test --benchmark` runs; bench/compare passes the full sizes).
inline std::size_t arg(int argc, char** argv, int i, std::size_t fallback) {
  return argc > i ? std::strtoull(argv[i], nullptr, 10) : fallback;
}

inline double ns_since(clock::time_point t0) {
  return std::chrono::duration<double, std::nano>(clock::now() - t0).count();
}

// rss_bytes: resident set size from /proc/self/statm, the same source the Go and Python peers read.
inline std::size_t rss_bytes() {
  std::ifstream f("/proc/self/statm");
  std::size_t pages = 0, resident = 0;
  f >> pages >> resident;
  return resident * static_cast<std::size_t>(sysconf(_SC_PAGESIZE));
}

// percentile: p in [0, 100] of the samples (sorts them).
inline double percentile(std::vector<double>& v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  auto i = static_cast<std::size_t>(p / 100.0 * static_cast<double>(v.size() - 1) + 0.5);
  return v[std::min(i, v.size() - 1)];
}

// metric: one result line, "<name> <value>", the format bench/compare parses from every peer.
inline void metric(const std::string& name, double value) {
  std::printf("%-28s %14.1f\n", name.c_str(), value);
  std::fflush(stdout);
}

}  // namespace bench
