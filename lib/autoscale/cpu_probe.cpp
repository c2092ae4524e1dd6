// cpu_probe: how much of the CPU this process may use was used between two readings.
#include "autoscale/cpu_probe.hpp"

#include <sched.h>

#include <algorithm>
#include <limits>
#include <sstream>
#include <thread>

#include <spdlog/fmt/fmt.h>  // fmt, bundled or external, as spdlog was built

#include <fiberpool/errors.hpp>

#include "autoscale/sysfs_read.hpp"

namespace fiberpool::detail {

namespace {

namespace fs = std::filesystem;

// The CPUs a v2 cpu.max ("<quota> <period>", quota "max" for none) allows; nullopt for none.
std::optional<double> v2_quota(const fs::path& dir) {
  auto text = read_text(dir / "cpu.max");
  if (!text) return std::nullopt;
  std::istringstream in(*text);
  std::string quota;
  double period = 0;
  if (!(in >> quota >> period) || quota == "max" || period <= 0) return std::nullopt;
  try {
    return std::stod(quota) / period;
  } catch (const std::exception&) {
    return std::nullopt;
  }
}

// /proc/stat's first line: "cpu user nice system idle iowait irq softirq steal guest guest_nice".
// Guest time is already counted in user and nice, so only the first eight fields add up.
std::optional<std::pair<std::uint64_t, std::uint64_t>> proc_stat(const fs::path& root) {
  auto text = read_text(root / "proc/stat");
  if (!text) return std::nullopt;
  std::istringstream in(*text);
  std::string label;
  if (!(in >> label) || label != "cpu") return std::nullopt;
  std::uint64_t field[8] = {};
  for (auto& f : field)
    if (!(in >> f)) return std::nullopt;
  std::uint64_t total = 0;
  for (auto f : field) total += f;
  const std::uint64_t idle = field[3] + field[4];  // idle and iowait: nothing ran
  return std::pair{total - idle, total};
}

}  // namespace

std::size_t available_cpus() noexcept {
  cpu_set_t set;
  CPU_ZERO(&set);
  if (::sched_getaffinity(0, sizeof set, &set) == 0) {
    const int n = CPU_COUNT(&set);
    if (n > 0) return static_cast<std::size_t>(n);
  }
  return std::max(1u, std::thread::hardware_concurrency());
}

cpu_probe::cpu_probe(const fs::path& root, const cgroup_layout& layout, std::size_t cpu_count)
    : root_(root), layout_(layout),
      cpu_count_(static_cast<double>(cpu_count ? cpu_count : available_cpus())) {
  if (!layout_.v2.empty() && read_key(layout_.v2.front() / "cpu.stat", "usage_usec"))
    kind_ = kind::cgroup_v2;
  else if (layout_.v1_cpuacct)
    kind_ = kind::cgroup_v1;
  else if (proc_stat(root_))
    kind_ = kind::proc_stat;
  else
    throw error(fmt::format(
        "fiberpool: system_status cannot read CPU use: there is no cgroup v2 cpu.stat or v1 cpuacct.usage "
        "under {} and no readable {}; point system_status_options::root at a filesystem with /proc "
        "(and /sys/fs/cgroup) mounted, or give autoscaled_options::status a system_status of your own",
        (root_ / "sys/fs/cgroup").string(), (root_ / "proc/stat").string()));
}

std::optional<cpu_probe::counters> cpu_probe::sample() const {
  switch (kind_) {
    case kind::cgroup_v2:
      if (auto usec = read_key(layout_.v2.front() / "cpu.stat", "usage_usec")) return counters{*usec * 1000, 0};
      return std::nullopt;
    case kind::cgroup_v1:
      if (auto ns = read_number(*layout_.v1_cpuacct / "cpuacct.usage")) return counters{*ns, 0};
      return std::nullopt;
    case kind::proc_stat:
      if (auto s = proc_stat(root_)) return counters{s->first, s->second};
      return std::nullopt;
  }
  return std::nullopt;
}

double cpu_probe::cgroup_capacity() const {
  double quota = std::numeric_limits<double>::infinity();
  if (kind_ == kind::cgroup_v2) {
    for (const auto& dir : layout_.v2)
      if (auto q = v2_quota(dir)) quota = std::min(quota, *q);
  } else if (layout_.v1_cpu) {
    // cfs_quota_us is -1 for "no quota", which read_number() does not take for a number.
    auto q = read_number(*layout_.v1_cpu / "cpu.cfs_quota_us");
    auto p = read_number(*layout_.v1_cpu / "cpu.cfs_period_us");
    if (q && p && *p > 0) quota = static_cast<double>(*q) / static_cast<double>(*p);
  }
  return std::min(quota, cpu_count_);
}

std::optional<double> cpu_probe::read(clock::time_point now) {
  auto c = sample();
  if (!c)
    throw error(fmt::format("fiberpool: system_status could read CPU use from {} at first but no longer can; "
                            "check that the file is still there and readable",
                            source()));
  std::optional<double> share;
  // A counter that went back (a cgroup made afresh) starts over instead of reading as a huge use.
  if (previous_ && (c->busy < previous_->busy || c->total < previous_->total)) previous_.reset();
  if (previous_) {
    if (kind_ == kind::proc_stat) {
      const auto total = c->total - previous_->total;
      share = total ? static_cast<double>(c->busy - previous_->busy) / static_cast<double>(total) : 0.0;
    } else {
      const double wall_ns = std::chrono::duration<double, std::nano>(now - previous_at_).count();
      const double capacity = cgroup_capacity();
      share = wall_ns > 0 && capacity > 0
                  ? static_cast<double>(c->busy - previous_->busy) / (wall_ns * capacity)
                  : 0.0;
    }
  }
  previous_ = c;
  previous_at_ = now;
  return share;
}

std::string cpu_probe::source() const {
  switch (kind_) {
    case kind::cgroup_v2: return "cgroup v2 " + (layout_.v2.front() / "cpu.stat").string();
    case kind::cgroup_v1: return "cgroup v1 " + (*layout_.v1_cpuacct / "cpuacct.usage").string();
    case kind::proc_stat: return (root_ / "proc/stat").string();
  }
  return {};
}

}  // namespace fiberpool::detail
