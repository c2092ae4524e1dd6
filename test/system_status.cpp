// system_status on fake cgroup and /proc files: where the files are found (cgroup v2, v1, none),
// CPU and memory readings against quotas and limits, the windows and thresholds (with explicit
// times), failures, and default_system_status on a runtime (scheduler lag, sampling, options).
#include <atomic>
#include <chrono>
#include <memory>
#include <stdexcept>
#include <string>

#include "fake_root.hpp"
#include "support.hpp"

#include "autoscale/cgroup_layout.hpp"
#include "autoscale/cpu_probe.hpp"
#include "autoscale/memory_probe.hpp"
#include "autoscale/status_sampler.hpp"

using namespace fiberpool_test;
using fiberpool::detail::cpu_probe;
using fiberpool::detail::find_cgroups;
using fiberpool::detail::memory_probe;
using fiberpool::detail::status_sampler;

namespace {

const auto t0 = fiberpool::clock::time_point{} + std::chrono::hours(1);

cpu_probe cpu_of(const fake_root& root, std::size_t cpu_count = 8) {
  return cpu_probe(root.path(), find_cgroups(root.path()), cpu_count);
}

memory_probe memory_of(const fake_root& root) { return memory_probe(root.path(), find_cgroups(root.path())); }

// The cgroup v1 layout of a Docker-style host: one hierarchy per controller, cpu and cpuacct
// mounted together, the process in /app in each.
void cgroup_v1(const fake_root& root) {
  root.write("proc/self/cgroup", "12:memory:/app\n4:cpu,cpuacct:/app\n1:name=systemd:/init.scope\n");
  root.write("sys/fs/cgroup/cpu,cpuacct/app/cpu.cfs_quota_us", "50000\n");
  root.write("sys/fs/cgroup/cpu,cpuacct/app/cpu.cfs_period_us", "100000\n");
  root.write("sys/fs/cgroup/cpu,cpuacct/app/cpuacct.usage", "0\n");
  root.write("sys/fs/cgroup/memory/app/memory.usage_in_bytes", "600\n");
  root.write("sys/fs/cgroup/memory/app/memory.limit_in_bytes", "1000\n");
}

void meminfo(const fake_root& root, std::uint64_t total_kb, std::uint64_t available_kb) {
  root.write("proc/meminfo", "MemTotal:       " + std::to_string(total_kb) + " kB\nMemFree:        1 kB\n"
             "MemAvailable:   " + std::to_string(available_kb) + " kB\nBuffers:        1 kB\n");
}

fiberpool::system_status_options quick(const fake_root& root) {
  fiberpool::system_status_options o;
  o.root = root.path();
  o.sample_interval = std::chrono::milliseconds(1);
  o.cpu_count = 2;
  // Windows far longer than any test: what a test looks for never slides out of them.
  o.current_window = std::chrono::minutes(10);
  o.historical_window = std::chrono::minutes(10);
  return o;
}

}  // namespace

// --- where the files are -----------------------------------------------------------------------

TEST_CASE("cgroup v2: the process's own cgroup, then its ancestors up to the mount") {
  fake_root root;
  root.write("proc/self/cgroup", "0::/app/worker\n");
  root.write("sys/fs/cgroup/cgroup.controllers", "cpu memory\n");
  root.make_dir("sys/fs/cgroup/app/worker");
  auto l = find_cgroups(root.path());
  const auto mount = root.path() / "sys/fs/cgroup";
  REQUIRE(l.v2.size() == 3);
  CHECK(l.v2[0] == mount / "app/worker");
  CHECK(l.v2[1] == mount / "app");
  CHECK(l.v2[2] == mount);
}

TEST_CASE("cgroup v2: a cgroup named in /proc but not visible (a container's namespace) is the mount's top") {
  fake_root root;
  root.write("proc/self/cgroup", "0::/kubepods/pod1/abc\n");
  root.write("sys/fs/cgroup/cgroup.controllers", "cpu memory\n");
  auto l = find_cgroups(root.path());
  REQUIRE(l.v2.size() == 1);
  CHECK(l.v2[0] == root.path() / "sys/fs/cgroup");
}

TEST_CASE("cgroup v1: each controller's directory, under a joint mount or its own") {
  fake_root root;
  cgroup_v1(root);
  auto l = find_cgroups(root.path());
  CHECK(l.v2.empty());
  REQUIRE(l.v1_cpu);
  REQUIRE(l.v1_cpuacct);
  REQUIRE(l.v1_memory);
  CHECK(*l.v1_cpu == root.path() / "sys/fs/cgroup/cpu,cpuacct/app");
  CHECK(*l.v1_cpuacct == root.path() / "sys/fs/cgroup/cpu,cpuacct/app");
  CHECK(*l.v1_memory == root.path() / "sys/fs/cgroup/memory/app");
}

TEST_CASE("cgroup v1 without /proc/self/cgroup: the controllers' mounts are used") {
  fake_root root;
  root.write("sys/fs/cgroup/cpuacct/cpuacct.usage", "0\n");
  root.write("sys/fs/cgroup/memory/memory.usage_in_bytes", "1\n");
  auto l = find_cgroups(root.path());
  CHECK(l.v2.empty());
  CHECK_FALSE(l.v1_cpu);
  REQUIRE(l.v1_cpuacct);
  CHECK(*l.v1_cpuacct == root.path() / "sys/fs/cgroup/cpuacct");
  REQUIRE(l.v1_memory);
  CHECK(*l.v1_memory == root.path() / "sys/fs/cgroup/memory");
}

// --- CPU ---------------------------------------------------------------------------------------

TEST_CASE("CPU, cgroup v2: usage over wall time times the CPUs cpu.max allows") {
  fake_root root;
  root.cgroup_v2("max", 0, "200000 100000");  // a quota of 2 CPUs
  auto cpu = cpu_of(root);
  root.write("sys/fs/cgroup/cpu.stat", "usage_usec 0\n");
  CHECK_FALSE(cpu.read(t0).has_value());  // the first reading is only a baseline
  root.write("sys/fs/cgroup/cpu.stat", "usage_usec 1500000\n");
  CHECK(cpu.read(t0 + std::chrono::seconds(1)).value() == doctest::Approx(0.75));
  CHECK(cpu.source().find("cgroup v2") != std::string::npos);

  root.write("sys/fs/cgroup/cpu.max", "100000 100000\n");  // the quota changes at runtime: 1 CPU
  root.write("sys/fs/cgroup/cpu.stat", "usage_usec 2500000\n");
  CHECK(cpu.read(t0 + std::chrono::seconds(2)).value() == doctest::Approx(1.0));
}

TEST_CASE("CPU, cgroup v2: no quota counts the CPUs; an ancestor's quota binds; a quota above them is capped") {
  fake_root root;
  root.write("proc/self/cgroup", "0::/app\n");
  root.write("sys/fs/cgroup/cgroup.controllers", "cpu memory\n");
  root.write("sys/fs/cgroup/app/cpu.max", "max 100000\n");
  root.write("sys/fs/cgroup/app/cpu.stat", "usage_usec 0\n");
  root.write("sys/fs/cgroup/app/memory.current", "0\n");

  SUBCASE("no quota anywhere: cpu_count CPUs") {
    auto cpu = cpu_of(root, 4);
    CHECK_FALSE(cpu.read(t0));
    root.write("sys/fs/cgroup/app/cpu.stat", "usage_usec 2000000\n");
    CHECK(cpu.read(t0 + std::chrono::seconds(1)).value() == doctest::Approx(0.5));
  }
  SUBCASE("the parent's quota of half a CPU") {
    root.write("sys/fs/cgroup/cpu.max", "50000 100000\n");
    auto cpu = cpu_of(root, 4);
    CHECK_FALSE(cpu.read(t0));
    root.write("sys/fs/cgroup/app/cpu.stat", "usage_usec 250000\n");
    CHECK(cpu.read(t0 + std::chrono::seconds(1)).value() == doctest::Approx(0.5));
  }
  SUBCASE("a quota of 8 CPUs on a process that may use 2") {
    root.write("sys/fs/cgroup/app/cpu.max", "800000 100000\n");
    auto cpu = cpu_of(root, 2);
    CHECK_FALSE(cpu.read(t0));
    root.write("sys/fs/cgroup/app/cpu.stat", "usage_usec 2000000\n");
    CHECK(cpu.read(t0 + std::chrono::seconds(1)).value() == doctest::Approx(1.0));
  }
}

TEST_CASE("CPU, cgroup v1: cpuacct.usage against cpu.cfs_quota_us / cpu.cfs_period_us; -1 is no quota") {
  fake_root root;
  cgroup_v1(root);
  auto cpu = cpu_of(root, 4);
  CHECK(cpu.source().find("cgroup v1") != std::string::npos);
  CHECK_FALSE(cpu.read(t0));
  root.write("sys/fs/cgroup/cpu,cpuacct/app/cpuacct.usage", "250000000\n");  // 0.25 s in ns
  CHECK(cpu.read(t0 + std::chrono::seconds(1)).value() == doctest::Approx(0.5));  // of 0.5 CPU

  root.write("sys/fs/cgroup/cpu,cpuacct/app/cpu.cfs_quota_us", "-1\n");
  root.write("sys/fs/cgroup/cpu,cpuacct/app/cpuacct.usage", "1250000000\n");
  CHECK(cpu.read(t0 + std::chrono::seconds(2)).value() == doctest::Approx(0.25));  // of 4 CPUs
}

TEST_CASE("CPU without cgroups: the machine's busy time over its total in /proc/stat") {
  fake_root root;
  // user nice system idle iowait irq softirq steal guest guest_nice
  root.write("proc/stat", "cpu  100 0 100 700 100 0 0 0 50 0\ncpu0 1 2 3 4 5 6 7 8 9 10\nintr 1\n");
  auto cpu = cpu_of(root);
  CHECK(cpu.source().find("proc/stat") != std::string::npos);
  CHECK_FALSE(cpu.read(t0));
  root.write("proc/stat", "cpu  400 0 200 900 100 0 0 0 50 0\n");  // busy +400, idle +200
  CHECK(cpu.read(t0 + std::chrono::seconds(1)).value() == doctest::Approx(400.0 / 600.0));
}

TEST_CASE("CPU: a counter that goes back starts over instead of reading as a huge use") {
  fake_root root;
  root.cgroup_v2("max", 0);
  auto cpu = cpu_of(root);
  root.write("sys/fs/cgroup/cpu.stat", "usage_usec 5000000\n");
  CHECK_FALSE(cpu.read(t0));
  root.write("sys/fs/cgroup/cpu.stat", "usage_usec 10\n");
  CHECK_FALSE(cpu.read(t0 + std::chrono::seconds(1)));
  root.write("sys/fs/cgroup/cpu.stat", "usage_usec 800010\n");
  CHECK(cpu.read(t0 + std::chrono::seconds(2)).value() == doctest::Approx(0.1));  // of 8 CPUs
}

TEST_CASE("CPU: no source at all, or one that disappears, is an error that says what to do") {
  fake_root root;
  CHECK_THROWS_WITH_AS(cpu_of(root), doctest::Contains("point system_status_options::root"), fiberpool::error);
  root.cgroup_v2("max", 0);
  auto cpu = cpu_of(root);
  root.remove("sys/fs/cgroup/cpu.stat");
  CHECK_THROWS_WITH_AS(cpu.read(t0), doctest::Contains("no longer can"), fiberpool::error);
}

// --- memory ------------------------------------------------------------------------------------

TEST_CASE("memory, cgroup v2: memory.current less reclaimable page cache over memory.max") {
  fake_root root;
  root.cgroup_v2("1000", 950);
  CHECK(memory_of(root).read() == doctest::Approx(0.95));
  root.write("sys/fs/cgroup/memory.stat", "anon 700\nfile 250\ninactive_file 100\nactive_file 150\n");
  CHECK(memory_of(root).read() == doctest::Approx(0.85));
  CHECK(memory_of(root).source().find("cgroup v2") != std::string::npos);
}

TEST_CASE("memory, cgroup v2: the lowest limit on the path binds; none at all falls back to /proc/meminfo") {
  fake_root root;
  root.write("proc/self/cgroup", "0::/app\n");
  root.write("sys/fs/cgroup/cgroup.controllers", "cpu memory\n");
  root.write("sys/fs/cgroup/app/cpu.stat", "usage_usec 0\n");
  root.write("sys/fs/cgroup/app/memory.max", "max\n");
  root.write("sys/fs/cgroup/app/memory.current", "500\n");
  meminfo(root, 1000, 250);
  CHECK(memory_of(root).read() == doctest::Approx(0.75));  // no limit: the machine's 750 of 1000 kB
  root.write("sys/fs/cgroup/memory.max", "2000\n");
  CHECK(memory_of(root).read() == doctest::Approx(0.25));  // the parent's limit
  root.write("sys/fs/cgroup/app/memory.max", "1000\n");
  CHECK(memory_of(root).read() == doctest::Approx(0.5));   // the lower of the two
}

TEST_CASE("memory, cgroup v1: usage over the hierarchical limit, less inactive page cache; 'unlimited' falls back") {
  fake_root root;
  cgroup_v1(root);
  meminfo(root, 1000, 900);
  CHECK(memory_of(root).read() == doctest::Approx(0.6));
  CHECK(memory_of(root).source().find("cgroup v1") != std::string::npos);
  root.write("sys/fs/cgroup/memory/app/memory.stat", "hierarchical_memory_limit 800\ntotal_inactive_file 200\n");
  CHECK(memory_of(root).read() == doctest::Approx(0.5));  // (600 - 200) / 800
  root.write("sys/fs/cgroup/memory/app/memory.stat", "total_inactive_file 0\n");
  root.write("sys/fs/cgroup/memory/app/memory.limit_in_bytes", "9223372036854771712\n");
  CHECK(memory_of(root).read() == doctest::Approx(0.1));  // the machine: 100 of 1000 kB used
}

TEST_CASE("memory without cgroups: MemTotal less MemAvailable, or less MemFree, Buffers and Cached on old kernels") {
  fake_root root;
  meminfo(root, 2000, 500);
  CHECK(memory_of(root).read() == doctest::Approx(0.75));
  root.write("proc/meminfo", "MemTotal: 1000 kB\nMemFree: 100 kB\nBuffers: 50 kB\nCached: 250 kB\n");
  CHECK(memory_of(root).read() == doctest::Approx(0.6));
}

TEST_CASE("memory: no source at all, or one that disappears, is an error that says what to do") {
  fake_root root;
  CHECK_THROWS_WITH_AS(memory_of(root), doctest::Contains("point system_status_options::root"), fiberpool::error);
  root.cgroup_v2("1000", 10);
  auto memory = memory_of(root);
  root.remove("sys/fs/cgroup/memory.current");
  CHECK_THROWS_WITH_AS(memory.read(), doctest::Contains("no longer can"), fiberpool::error);
}

// --- windows and thresholds --------------------------------------------------------------------

TEST_CASE("status_sampler: a sample is overloaded above the threshold; a resource when more than its ratio are") {
  fake_root root;
  root.cgroup_v2("1000", 900);  // exactly max_memory_ratio: not above it
  fiberpool::system_status_options o;
  o.root = root.path();
  status_sampler s(o);
  s.sample(t0);
  CHECK(s.report(t0, o.current_window).memory == 0);

  root.write("sys/fs/cgroup/memory.current", "901\n");
  s.sample(t0 + std::chrono::seconds(1));
  auto r = s.report(t0 + std::chrono::seconds(1), o.current_window);
  CHECK(r.memory == doctest::Approx(0.5));
  CHECK(r.overloaded);  // 0.5 > memory_overloaded_ratio 0.2

  root.write("sys/fs/cgroup/memory.current", "100\n");
  for (int i = 1; i <= 8; ++i) s.sample(t0 + std::chrono::seconds(1) + std::chrono::milliseconds(100 * i));
  r = s.report(t0 + std::chrono::seconds(3), o.current_window);
  CHECK(r.memory == doctest::Approx(0.1));  // 1 of 10
  CHECK_FALSE(r.overloaded);
}

TEST_CASE("status_sampler: CPU above 95% of the quota and lag above 50 ms are overloaded samples") {
  fake_root root;
  root.cgroup_v2("1000", 0, "100000 100000");
  fiberpool::system_status_options o;
  o.root = root.path();
  o.cpu_count = 4;  // the quota of 1 CPU is what counts
  status_sampler s(o);
  root.write("sys/fs/cgroup/cpu.stat", "usage_usec 0\n");
  s.sample(t0);
  root.write("sys/fs/cgroup/cpu.stat", "usage_usec 950000\n");  // 95%: not above
  s.sample(t0 + std::chrono::seconds(1));
  CHECK(s.report(t0 + std::chrono::seconds(1), o.current_window).cpu == 0);
  root.write("sys/fs/cgroup/cpu.stat", "usage_usec 1910000\n");  // 96%
  s.sample(t0 + std::chrono::seconds(2));
  auto r = s.report(t0 + std::chrono::seconds(2), o.current_window);
  CHECK(r.cpu == doctest::Approx(0.5));
  CHECK(r.overloaded);  // 0.5 > cpu_overloaded_ratio 0.4

  status_sampler lag(o);  // CPU and memory stay below their thresholds here
  lag.record_lag(t0, std::chrono::milliseconds(50));  // 50 ms: not above
  lag.record_lag(t0, std::chrono::milliseconds(51));
  r = lag.report(t0, o.current_window);
  CHECK(r.lag == doctest::Approx(0.5));
  CHECK_FALSE(r.overloaded);  // 0.5 is not above lag_overloaded_ratio 0.6
  lag.record_lag(t0, std::chrono::milliseconds(51));
  r = lag.report(t0, o.current_window);
  CHECK(r.lag == doctest::Approx(2.0 / 3));
  CHECK(r.overloaded);
}

TEST_CASE("status_sampler: current() sees the short window, historical() the long one; older samples are forgotten") {
  fake_root root;
  root.cgroup_v2("1000", 950);
  fiberpool::system_status_options o;
  o.root = root.path();
  o.current_window = std::chrono::seconds(5);
  o.historical_window = std::chrono::seconds(30);
  status_sampler s(o);
  s.sample(t0);  // overloaded
  root.write("sys/fs/cgroup/memory.current", "10\n");
  s.sample(t0 + std::chrono::seconds(10));
  const auto now = t0 + std::chrono::seconds(10);
  CHECK(s.report(now, o.current_window).memory == 0);
  CHECK_FALSE(s.report(now, o.current_window).overloaded);
  CHECK(s.report(now, o.historical_window).memory == doctest::Approx(0.5));
  CHECK(s.report(now, o.historical_window).overloaded);
  s.sample(t0 + std::chrono::seconds(31));  // forgets the sample at t0
  CHECK(s.report(t0 + std::chrono::seconds(31), std::chrono::hours(1)).memory == 0);
}

TEST_CASE("status_sampler: thresholds and ratios are options") {
  fake_root root;
  root.cgroup_v2("1000", 600);
  fiberpool::system_status_options o;
  o.root = root.path();
  o.max_memory_ratio = 0.5;
  o.memory_overloaded_ratio = 0.9;
  status_sampler s(o);
  s.sample(t0);
  auto r = s.report(t0, o.current_window);
  CHECK(r.memory == 1.0);
  CHECK(r.overloaded);  // 1.0 > 0.9
  o.memory_overloaded_ratio = 1.0;
  status_sampler never(o);
  never.sample(t0);
  CHECK_FALSE(never.report(t0, o.current_window).overloaded);
  o.max_lag = std::chrono::milliseconds(5);
  status_sampler strict(o);
  strict.record_lag(t0, std::chrono::milliseconds(6));
  CHECK(strict.report(t0, o.current_window).lag == 1.0);
}

TEST_CASE("status_sampler: a failed sample makes every later report throw it") {
  fake_root root;
  root.cgroup_v2("1000", 10);
  fiberpool::system_status_options o;
  o.root = root.path();
  status_sampler s(o);
  s.sample(t0);
  CHECK_NOTHROW(s.report(t0, o.current_window));
  root.remove("sys/fs/cgroup/memory.current");
  s.sample(t0 + std::chrono::seconds(1));
  CHECK_THROWS_WITH_AS(s.report(t0, o.current_window), doctest::Contains("no longer can"), fiberpool::error);
  root.write("sys/fs/cgroup/memory.current", "10\n");
  s.sample(t0 + std::chrono::seconds(2));
  CHECK_THROWS_AS(s.report(t0, o.historical_window), fiberpool::error);
}

TEST_CASE("system_status_options: Crawlee's defaults; bad values throw std::invalid_argument naming the option") {
  fiberpool::system_status_options d;
  CHECK(d.sample_interval == std::chrono::seconds(1));
  CHECK(d.lag_interval == std::chrono::milliseconds(100));
  CHECK(d.current_window == std::chrono::seconds(5));
  CHECK(d.historical_window == std::chrono::seconds(30));
  CHECK(d.max_cpu_ratio == 0.95);
  CHECK(d.max_memory_ratio == 0.9);
  CHECK(d.max_lag == std::chrono::milliseconds(50));
  CHECK(d.cpu_overloaded_ratio == 0.4);
  CHECK(d.memory_overloaded_ratio == 0.2);
  CHECK(d.lag_overloaded_ratio == 0.6);
  CHECK_NOTHROW(fiberpool::detail::validate(d));

  auto bad = d;
  bad.sample_interval = fiberpool::clock::duration::zero();
  CHECK_THROWS_WITH_AS(fiberpool::detail::validate(bad), doctest::Contains("sample_interval must be longer than zero"),
                       std::invalid_argument);
  bad = d;
  bad.current_window = std::chrono::minutes(1);
  CHECK_THROWS_WITH_AS(fiberpool::detail::validate(bad), doctest::Contains("make historical_window at least as long"),
                       std::invalid_argument);
  bad = d;
  bad.max_cpu_ratio = 95;
  CHECK_THROWS_WITH_AS(fiberpool::detail::validate(bad), doctest::Contains("max_cpu_ratio must be in (0, 1]"),
                       std::invalid_argument);
  bad = d;
  bad.lag_overloaded_ratio = -0.1;
  CHECK_THROWS_WITH_AS(fiberpool::detail::validate(bad), doctest::Contains("lag_overloaded_ratio must be in [0, 1]"),
                       std::invalid_argument);
  bad = d;
  bad.max_lag = fiberpool::clock::duration::zero();
  CHECK_THROWS_AS(fiberpool::detail::validate(bad), std::invalid_argument);
}

// --- default_system_status on a runtime --------------------------------------------------------

TEST_CASE("default_system_status samples fake cgroup files every sample_interval on the runtime") {
  with_threads([](std::size_t threads) {
    fake_root root;
    root.cgroup_v2("1000", 950);
    fiberpool::task_pool pool(pool_opts(threads));
    fiberpool::default_system_status status(pool.runtime(), quick(root));
    auto r = status.current();  // the first reading is taken at once
    CHECK(r.memory == 1.0);
    CHECK(r.overloaded);
    CHECK(status.historical().overloaded);

    root.write("sys/fs/cgroup/memory.current", "10\n");
    // New samples below the limit dilute the one above it below memory_overloaded_ratio.
    CHECK(eventually([&] { return !status.current().overloaded; }));
    CHECK(status.current().memory > 0);  // the first sample is still in the window
  });
}

TEST_CASE("default_system_status measures scheduler lag: a fiber hogging every thread makes the lag timer late") {
  with_threads([](std::size_t threads) {
    fake_root root;
    root.cgroup_v2("1000", 10);
    auto o = quick(root);
    o.lag_interval = std::chrono::milliseconds(1);
    fiberpool::task_pool pool(pool_opts(threads));
    pool.start();
    fiberpool::default_system_status status(pool.runtime(), o);
    CHECK(status.current().lag == 0);

    // One hog per scheduler thread, each spinning without a cancellation point until all have
    // started (so every thread is taken) and then for three max_lag more: the lag timer, due a
    // millisecond after they take the threads, fires at least that late.
    std::atomic<std::size_t> hogging{0};
    for (std::size_t i = 0; i < threads; ++i)
      pool.apply([&] {
        hogging.fetch_add(1);
        const auto give_up = fiberpool::clock::now() + patience;
        while (hogging.load() < threads && fiberpool::clock::now() < give_up) {
        }
        const auto until = fiberpool::clock::now() + 3 * o.max_lag;
        while (fiberpool::clock::now() < until) {
        }
      });
    pool.waitall();
    REQUIRE(hogging.load() == threads);
    CHECK(eventually([&] { return status.current().lag > 0; }));
  });
}

TEST_CASE("default_system_status: a source that disappears makes current() and historical() throw") {
  with_threads([](std::size_t threads) {
    fake_root root;
    root.cgroup_v2("1000", 10);
    fiberpool::task_pool pool(pool_opts(threads));
    fiberpool::default_system_status status(pool.runtime(), quick(root));
    root.remove("sys/fs/cgroup/memory.current");
    CHECK(eventually([&] {
      try {
        status.current();
        return false;
      } catch (const fiberpool::error&) {
        return true;
      }
    }));
    CHECK_THROWS_WITH_AS(status.historical(), doctest::Contains("memory"), fiberpool::error);
  });
}

TEST_CASE("default_system_status: an unreadable root or a bad option throws at construction") {
  fake_root empty;
  fiberpool::task_pool pool(pool_opts(1));
  CHECK_THROWS_WITH_AS(fiberpool::default_system_status(pool.runtime(), quick(empty)),
                       doctest::Contains("cannot read CPU use"), fiberpool::error);
  fake_root root;
  root.cgroup_v2("1000", 10);
  auto o = quick(root);
  o.lag_interval = fiberpool::clock::duration::zero();
  CHECK_THROWS_WITH_AS(fiberpool::default_system_status(pool.runtime(), o), doctest::Contains("lag_interval"),
                       std::invalid_argument);
}
