// cgroup_layout: where this process's cgroup files are, under a filesystem root.
#pragma once

#include <filesystem>
#include <optional>
#include <vector>

namespace fiberpool::detail {

struct cgroup_layout {
  // cgroup v2 (a unified hierarchy at <root>/sys/fs/cgroup): the process's own cgroup directory
  // first, then its ancestors up to the mount point, whose limits bind the process too. Empty
  // when there is no unified hierarchy with controllers.
  std::vector<std::filesystem::path> v2;
  // cgroup v1: the process's directory in each controller's hierarchy, where one was found.
  std::optional<std::filesystem::path> v1_cpu;      // cpu.cfs_quota_us, cpu.cfs_period_us
  std::optional<std::filesystem::path> v1_cpuacct;  // cpuacct.usage
  std::optional<std::filesystem::path> v1_memory;   // memory.usage_in_bytes, memory.limit_in_bytes
};

// find_cgroups: reads <root>/proc/self/cgroup (when there is one) and looks for the directories
// under <root>/sys/fs/cgroup. In a container the cgroup named in /proc is often not visible (the
// container sees its own cgroup as the mount's top), so the top is used when the named one is
// missing.
cgroup_layout find_cgroups(const std::filesystem::path& root);

}  // namespace fiberpool::detail
