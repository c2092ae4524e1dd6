// memory_probe: how much of the memory this process may use is in use.
#include "autoscale/memory_probe.hpp"

#include <algorithm>

#include <spdlog/fmt/fmt.h>  // fmt, bundled or external, as spdlog was built

#include <fiberpool/errors.hpp>

#include "autoscale/sysfs_read.hpp"

namespace fiberpool::detail {

namespace {

namespace fs = std::filesystem;

// cgroup v1 writes a page-rounded 2^63 for "no limit"; anything this large is none.
constexpr std::uint64_t v1_unlimited = std::uint64_t{1} << 62;

}  // namespace

memory_probe::memory_probe(const fs::path& root, const cgroup_layout& layout) : root_(root), layout_(layout) {
  if (!layout_.v2.empty() && read_number(layout_.v2.front() / "memory.current"))
    kind_ = kind::cgroup_v2;
  else if (layout_.v1_memory)
    kind_ = kind::cgroup_v1;
  else if (meminfo_share())
    kind_ = kind::meminfo;
  else
    throw error(fmt::format(
        "fiberpool: system_status cannot read memory use: there is no cgroup v2 memory.current or v1 "
        "memory.usage_in_bytes under {} and no readable {} with MemTotal; point system_status_options::root "
        "at a filesystem with /proc (and /sys/fs/cgroup) mounted, or give autoscaled_options::status a "
        "system_status of your own",
        (root_ / "sys/fs/cgroup").string(), (root_ / "proc/meminfo").string()));
}

std::optional<memory_probe::usage> memory_probe::cgroup_usage() const {
  usage u;
  std::optional<std::uint64_t> current;
  std::uint64_t reclaimable = 0;
  if (kind_ == kind::cgroup_v2) {
    const auto& own = layout_.v2.front();
    current = read_number(own / "memory.current");
    // memory.max is "max" (no number) where there is no limit; an ancestor's limit binds too.
    for (const auto& dir : layout_.v2)
      if (auto limit = read_number(dir / "memory.max")) u.limit = u.limit ? std::min(u.limit, *limit) : *limit;
    reclaimable = read_key(own / "memory.stat", "inactive_file").value_or(0);
  } else {
    const auto& own = *layout_.v1_memory;
    current = read_number(own / "memory.usage_in_bytes");
    // hierarchical_memory_limit already takes the ancestors' limits into account.
    auto limit = read_key(own / "memory.stat", "hierarchical_memory_limit");
    if (!limit) limit = read_number(own / "memory.limit_in_bytes");
    if (limit && *limit < v1_unlimited) u.limit = *limit;
    reclaimable = read_key(own / "memory.stat", "total_inactive_file").value_or(0);
  }
  if (!current) return std::nullopt;
  u.used = *current > reclaimable ? *current - reclaimable : 0;
  return u;
}

std::optional<double> memory_probe::meminfo_share() const {
  const auto meminfo = root_ / "proc/meminfo";
  auto total = read_key(meminfo, "MemTotal:");
  if (!total || *total == 0) return std::nullopt;
  auto available = read_key(meminfo, "MemAvailable:");
  if (!available) {  // kernels before 3.14: what is free plus what the kernel can drop
    available = read_key(meminfo, "MemFree:").value_or(0) + read_key(meminfo, "Buffers:").value_or(0) +
                read_key(meminfo, "Cached:").value_or(0);
  }
  const auto used = *total > *available ? *total - *available : 0;
  return static_cast<double>(used) / static_cast<double>(*total);
}

double memory_probe::read() const {
  if (kind_ != kind::meminfo) {
    auto u = cgroup_usage();
    if (!u)
      throw error(fmt::format("fiberpool: system_status could read memory use from {} at first but no longer "
                              "can; check that the file is still there and readable",
                              source()));
    if (u->limit) return static_cast<double>(u->used) / static_cast<double>(u->limit);
  }
  // No cgroup limit: the machine's memory is what runs out.
  if (auto share = meminfo_share()) return *share;
  throw error(fmt::format("fiberpool: system_status found no cgroup memory limit and cannot read MemTotal "
                          "from {}; mount /proc or set a memory limit on the cgroup",
                          (root_ / "proc/meminfo").string()));
}

std::string memory_probe::source() const {
  switch (kind_) {
    case kind::cgroup_v2: return "cgroup v2 " + layout_.v2.front().string();
    case kind::cgroup_v1: return "cgroup v1 " + layout_.v1_memory->string();
    case kind::meminfo: return (root_ / "proc/meminfo").string();
  }
  return {};
}

}  // namespace fiberpool::detail
