// system_status: the probe autoscaling reads (is the system overloaded?), and its default,
// cgroup-aware implementation (CPU, memory and scheduler lag), after Crawlee's SystemStatus.
#pragma once

#include <chrono>
#include <cstddef>
#include <filesystem>
#include <memory>

#include <fiberpool/types.hpp>

namespace spdlog { class logger; }

namespace fiberpool {

class runtime;
class timer;
namespace detail { class status_sampler; class lag_probe; }

// What a system_status says about one window of samples.
struct status_report {
  // Any resource over its threshold: its share of overloaded samples is above the allowed ratio.
  bool overloaded = false;
  // For each resource, the share (0 to 1) of the window's samples that were overloaded.
  double cpu = 0, memory = 0, lag = 0;
};

// The probe an autoscaled_pool reads. Replace it to drive autoscaling from other signals (a
// remote API's rate-limit headers, a queue's depth) or, in tests, from a script. Both members
// are called from the thread that runs autoscaled_pool::run(); an exception either throws ends
// run() and is rethrown from it.
class system_status {
 public:
  virtual ~system_status() = default;
  // current: the short window; gates starting one more task.
  virtual status_report current() = 0;
  // historical: the autoscale window; drives the desired concurrency up or down.
  virtual status_report historical() = 0;
};

// Thresholds, windows and sources of default_system_status. The defaults are Crawlee's.
struct system_status_options {
  // Where /sys/fs/cgroup and /proc are read from. Tests point it at a directory of fake files.
  std::filesystem::path root = "/";
  // CPU and memory are read this often.
  clock::duration sample_interval = std::chrono::seconds(1);
  // The lag probe: a timer of this length on the pool's runtime; how late it fires is the lag.
  clock::duration lag_interval = std::chrono::milliseconds(100);
  // current() looks at the samples of this last stretch (Crawlee's currentHistorySecs) ...
  clock::duration current_window = std::chrono::seconds(5);
  // ... and historical() at this one; older samples are forgotten (Crawlee's snapshotHistorySecs).
  clock::duration historical_window = std::chrono::seconds(30);
  // A CPU sample is overloaded above this share of the CPU the process may use (the cgroup's quota,
  // else the CPUs it may run on).
  double max_cpu_ratio = 0.95;
  // A memory sample is overloaded above this share of the memory limit (the cgroup's, else the
  // machine's).
  double max_memory_ratio = 0.9;
  // A lag sample is overloaded when the timer fires more than this late.
  clock::duration max_lag = std::chrono::milliseconds(50);
  // A resource is overloaded when more than this share of its samples in the window were.
  double cpu_overloaded_ratio = 0.4;
  double memory_overloaded_ratio = 0.2;
  double lag_overloaded_ratio = 0.6;
  // CPUs to count when the cgroup sets no CPU quota; 0: the CPUs this process may run on.
  std::size_t cpu_count = 0;
};

// The default system_status. Every sample_interval it reads CPU use against the cgroup's quota
// (cgroup v2 cpu.max and cpu.stat, else v1 cpu.cfs_quota_us and cpuacct.usage, else /proc/stat)
// and memory use against the cgroup's limit (v2 memory.max and memory.current, else v1
// memory.limit_in_bytes and memory.usage_in_bytes, else /proc/meminfo); page cache the kernel can
// reclaim does not count as used. Continuously it measures scheduler lag on `rt`. Sampling runs
// on timers of `rt`, which must outlive this object.
class default_system_status final : public system_status {
 public:
  // default_system_status: finds the sources and takes a first reading. Throws
  // std::invalid_argument for bad options (a zero interval or window, a ratio outside (0, 1]),
  // and error when neither cgroup files nor /proc can be read under options.root.
  explicit default_system_status(runtime& rt, system_status_options options = {},
                                 std::shared_ptr<spdlog::logger> log = nullptr);
  // ~default_system_status: stops sampling; waits for a sample in progress.
  ~default_system_status() override;
  default_system_status(const default_system_status&) = delete;
  default_system_status& operator=(const default_system_status&) = delete;

  // current / historical: the report over the last current_window / historical_window. A sample
  // that failed (a source that could be read at first no longer can) makes both throw its error.
  status_report current() override;
  status_report historical() override;

 private:
  std::shared_ptr<detail::status_sampler> sampler_;
  std::shared_ptr<detail::lag_probe> lag_;
  std::unique_ptr<fiberpool::timer> timer_;
};

}  // namespace fiberpool
