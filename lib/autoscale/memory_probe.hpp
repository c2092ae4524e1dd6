// memory_probe: how much of the memory this process may use is in use.
#pragma once

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>

#include "autoscale/cgroup_layout.hpp"

namespace fiberpool::detail {

class memory_probe {
 public:
  // memory_probe: picks the first source that can be read: the cgroup v2 memory.current, the
  // cgroup v1 memory.usage_in_bytes, /proc/meminfo. Throws error when none can be read.
  memory_probe(const std::filesystem::path& root, const cgroup_layout& layout);

  // read: the share (0 to 1) of the limit in use. A cgroup with a limit: its usage, less the page
  // cache the kernel can reclaim (inactive_file, as the kubelet counts a working set), over the
  // lowest limit on its path. A cgroup without one, or no cgroup: the machine's MemTotal less
  // MemAvailable over MemTotal. Throws error when the source can no longer be read.
  double read() const;

  // source: where readings come from, for the log.
  std::string source() const;

 private:
  enum class kind { cgroup_v2, cgroup_v1, meminfo };
  struct usage {
    std::uint64_t used = 0;
    std::uint64_t limit = 0;  // 0: the cgroup sets none
  };
  std::optional<usage> cgroup_usage() const;
  std::optional<double> meminfo_share() const;

  kind kind_ = kind::meminfo;
  std::filesystem::path root_;
  cgroup_layout layout_;
};

}  // namespace fiberpool::detail
