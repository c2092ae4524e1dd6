// fake_root: a temporary directory standing in for "/", holding fake /proc and /sys/fs/cgroup files,
// so that system_status tests never read the machine's real load.
#pragma once

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <stdexcept>
#include <string>

#include <doctest/doctest.h>

namespace fiberpool_test {

class fake_root {
 public:
  fake_root() {
    const char* tmp = std::getenv("TMPDIR");
    std::string tmpl = std::string(tmp && *tmp ? tmp : "/tmp") + "/fiberpool-root-XXXXXX";
    if (!::mkdtemp(tmpl.data())) throw std::runtime_error("fake_root: mkdtemp failed for " + tmpl);
    path_ = tmpl;
  }
  ~fake_root() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  fake_root(const fake_root&) = delete;
  fake_root& operator=(const fake_root&) = delete;

  const std::filesystem::path& path() const { return path_; }

  // write: replaces the file at `relative` (made with its folders) by `text`, atomically (a
  // rename), so a sampler reading it on another thread sees the old or the new text, never half.
  void write(const std::string& relative, const std::string& text) const {
    const auto target = path_ / relative;
    std::filesystem::create_directories(target.parent_path());
    const auto scratch = target.string() + ".new";
    {
      std::ofstream out(scratch, std::ios::trunc);
      out << text;
      REQUIRE(out.good());
    }
    std::filesystem::rename(scratch, target);
  }
  void remove(const std::string& relative) const { std::filesystem::remove(path_ / relative); }
  void make_dir(const std::string& relative) const { std::filesystem::create_directories(path_ / relative); }

  // cgroup_v2: a unified hierarchy whose top is the process's cgroup, with a memory limit and a
  // CPU quota ("max" for none), and CPU use that stays where it is.
  void cgroup_v2(const std::string& memory_max, std::uint64_t memory_current, const std::string& cpu_max = "max 100000") const {
    write("sys/fs/cgroup/cgroup.controllers", "cpu memory\n");
    write("sys/fs/cgroup/cpu.max", cpu_max + "\n");
    write("sys/fs/cgroup/cpu.stat", "usage_usec 1000\nuser_usec 600\nsystem_usec 400\n");
    write("sys/fs/cgroup/memory.max", memory_max + "\n");
    write("sys/fs/cgroup/memory.current", std::to_string(memory_current) + "\n");
  }

 private:
  std::filesystem::path path_;
};

}  // namespace fiberpool_test
