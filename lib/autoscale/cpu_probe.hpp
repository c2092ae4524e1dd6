// cpu_probe: how much of the CPU this process may use was used between two readings.
#pragma once

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>

#include <fiberpool/types.hpp>

#include "autoscale/cgroup_layout.hpp"

namespace fiberpool::detail {

class cpu_probe {
 public:
  // cpu_probe: picks the first source that can be read: the cgroup v2 cpu.stat, the cgroup v1
  // cpuacct.usage, /proc/stat. cpu_count: CPUs to count when the cgroup sets no quota (0: the
  // CPUs this process may run on). Throws error when no source can be read.
  cpu_probe(const std::filesystem::path& root, const cgroup_layout& layout, std::size_t cpu_count);

  // read: the share (0 to about 1) of the available CPU used since the previous read, taken at
  // `now`; nullopt for the first read. A cgroup's share is its usage over the wall time times the
  // CPUs its quota allows (re-read every time: a quota can change at runtime); /proc/stat's is
  // the machine's busy time over its total. Throws error when the source can no longer be read.
  std::optional<double> read(clock::time_point now);

  // source: where readings come from, for the log.
  std::string source() const;

 private:
  enum class kind { cgroup_v2, cgroup_v1, proc_stat };
  struct counters {
    std::uint64_t busy = 0;   // cgroups: usage in ns; /proc/stat: busy jiffies
    std::uint64_t total = 0;  // /proc/stat only: all jiffies
  };
  std::optional<counters> sample() const;
  double cgroup_capacity() const;  // CPUs the quota allows, at most cpu_count_

  kind kind_ = kind::proc_stat;
  std::filesystem::path root_;
  cgroup_layout layout_;
  double cpu_count_ = 1;
  std::optional<counters> previous_;
  clock::time_point previous_at_{};
};

// available_cpus: the CPUs this process may run on (its affinity mask), at least 1.
std::size_t available_cpus() noexcept;

}  // namespace fiberpool::detail
