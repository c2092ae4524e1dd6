// status_sampler: default_system_status's readings and windows, driven by explicit times so that
// its arithmetic can be tested without a clock.
#pragma once

#include <exception>
#include <mutex>
#include <string>

#include <fiberpool/system_status.hpp>
#include <fiberpool/types.hpp>

#include "autoscale/cgroup_layout.hpp"
#include "autoscale/cpu_probe.hpp"
#include "autoscale/memory_probe.hpp"
#include "autoscale/sample_history.hpp"

namespace fiberpool::detail {

// validate: throws std::invalid_argument, saying which option to change, for a zero or negative
// interval, window or lag bound, a current_window longer than historical_window, or a ratio out
// of range.
void validate(const system_status_options& o);

class status_sampler {
 public:
  // status_sampler: validates the options and finds the sources (see cpu_probe, memory_probe).
  explicit status_sampler(system_status_options o);

  // sample: reads CPU and memory at `now`. A failure is kept: report() throws it from then on.
  void sample(clock::time_point now) noexcept;
  // record_lag: the lag probe's timer, due at `now - late`, fired at `now`.
  void record_lag(clock::time_point now, clock::duration late) noexcept;
  // report: the samples taken in [now - window, now]; throws the first failure of sample().
  status_report report(clock::time_point now, clock::duration window) const;

  const system_status_options& options() const noexcept { return opts_; }
  // sources: where CPU and memory readings come from, for the log.
  std::string sources() const;

 private:
  void forget_old(clock::time_point now);  // under mu_

  const system_status_options opts_;
  const cgroup_layout layout_;
  std::mutex probe_mu_;  // one reading at a time: cpu_ keeps the previous one
  cpu_probe cpu_;
  memory_probe memory_;
  mutable std::mutex mu_;
  sample_history cpu_history_;
  sample_history memory_history_;
  sample_history lag_history_;
  std::exception_ptr failure_;
};

}  // namespace fiberpool::detail
