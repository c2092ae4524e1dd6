// cgroup_layout: where this process's cgroup files are, under a filesystem root.
#include "autoscale/cgroup_layout.hpp"

#include <sstream>
#include <string>

#include "autoscale/sysfs_read.hpp"

namespace fiberpool::detail {

namespace {

namespace fs = std::filesystem;

// One line of /proc/self/cgroup: "hierarchy-id:controller,list:/path" ("0::/path" for v2).
struct membership {
  std::string controllers;
  fs::path path;  // relative to the hierarchy's mount
};

std::vector<membership> read_memberships(const fs::path& root) {
  std::vector<membership> out;
  auto text = read_text(root / "proc/self/cgroup");
  if (!text) return out;
  std::istringstream in(*text);
  std::string line;
  while (std::getline(in, line)) {
    auto first = line.find(':');
    auto second = first == std::string::npos ? first : line.find(':', first + 1);
    if (second == std::string::npos) continue;
    membership m;
    m.controllers = line.substr(first + 1, second - first - 1);
    m.path = fs::path(line.substr(second + 1)).relative_path();
    out.push_back(std::move(m));
  }
  return out;
}

bool lists(const std::string& controllers, const std::string& controller) {
  std::istringstream in(controllers);
  std::string c;
  while (std::getline(in, c, ','))
    if (c == controller) return true;
  return false;
}

bool is_dir(const fs::path& p) {
  std::error_code ec;
  return fs::is_directory(p, ec);
}

bool file_exists(const fs::path& p) {
  std::error_code ec;
  return fs::exists(p, ec);
}

// The process's directory in a mount: the named cgroup when visible, else the mount's top.
fs::path own_dir(const fs::path& mount, const fs::path& relative) {
  if (!relative.empty() && is_dir(mount / relative)) return mount / relative;
  return mount;
}

std::vector<fs::path> find_v2(const fs::path& root, const std::vector<membership>& ms) {
  const fs::path mount = root / "sys/fs/cgroup";
  if (!file_exists(mount / "cgroup.controllers")) return {};
  fs::path relative;
  for (const auto& m : ms)
    if (m.controllers.empty()) relative = m.path;
  std::vector<fs::path> dirs;
  for (fs::path d = own_dir(mount, relative);; d = d.parent_path()) {
    dirs.push_back(d);
    if (d == mount || !d.has_relative_path()) break;
  }
  return dirs;
}

// The v1 directory of `controller` holding `marker`. Hierarchies are mounted under the name of
// their controller list ("cpu,cpuacct"), often with links for each controller ("cpuacct").
std::optional<fs::path> find_v1(const fs::path& root, const std::vector<membership>& ms,
                                const std::string& controller, const std::string& marker) {
  const fs::path base = root / "sys/fs/cgroup";
  std::vector<std::pair<fs::path, fs::path>> candidates;  // mount, relative path
  for (const auto& m : ms)
    if (lists(m.controllers, controller)) {
      candidates.emplace_back(base / m.controllers, m.path);
      candidates.emplace_back(base / controller, m.path);
    }
  for (const char* name : {"", "cpu,cpuacct", "cpuacct,cpu"})
    candidates.emplace_back(*name ? base / name : base / controller, fs::path());
  for (const auto& [mount, relative] : candidates) {
    if (!is_dir(mount)) continue;
    fs::path dir = own_dir(mount, relative);
    if (file_exists(dir / marker)) return dir;
  }
  return std::nullopt;
}

}  // namespace

cgroup_layout find_cgroups(const fs::path& root) {
  const auto ms = read_memberships(root);
  cgroup_layout l;
  l.v2 = find_v2(root, ms);
  l.v1_cpu = find_v1(root, ms, "cpu", "cpu.cfs_quota_us");
  l.v1_cpuacct = find_v1(root, ms, "cpuacct", "cpuacct.usage");
  l.v1_memory = find_v1(root, ms, "memory", "memory.usage_in_bytes");
  return l;
}

}  // namespace fiberpool::detail
