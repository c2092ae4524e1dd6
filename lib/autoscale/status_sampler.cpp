// status_sampler: default_system_status's readings and windows, driven by explicit times so that
// its arithmetic can be tested without a clock.
#include "autoscale/status_sampler.hpp"

#include <stdexcept>
#include <string>

namespace fiberpool::detail {

namespace {

void require_positive(clock::duration d, const char* name) {
  if (d <= clock::duration::zero())
    throw std::invalid_argument(std::string("fiberpool: system_status_options::") + name +
                                " must be longer than zero; give it a positive duration");
}

void require_share(double v, const char* name, bool zero_allowed) {
  if (!(v <= 1) || (zero_allowed ? v < 0 : v <= 0))
    throw std::invalid_argument(std::string("fiberpool: system_status_options::") + name + " must be in " +
                                (zero_allowed ? "[0, 1]" : "(0, 1]") + "; it is a share, not a percentage");
}

}  // namespace

void validate(const system_status_options& o) {
  require_positive(o.sample_interval, "sample_interval");
  require_positive(o.lag_interval, "lag_interval");
  require_positive(o.current_window, "current_window");
  require_positive(o.historical_window, "historical_window");
  require_positive(o.max_lag, "max_lag");
  if (o.current_window > o.historical_window)
    throw std::invalid_argument(
        "fiberpool: system_status_options::current_window is longer than historical_window, whose end "
        "forgets older samples; make historical_window at least as long");
  require_share(o.max_cpu_ratio, "max_cpu_ratio", false);
  require_share(o.max_memory_ratio, "max_memory_ratio", false);
  require_share(o.cpu_overloaded_ratio, "cpu_overloaded_ratio", true);
  require_share(o.memory_overloaded_ratio, "memory_overloaded_ratio", true);
  require_share(o.lag_overloaded_ratio, "lag_overloaded_ratio", true);
}

namespace {

// Validates before the probes look at the filesystem, so a bad option is reported as such.
const system_status_options& validated(const system_status_options& o) {
  validate(o);
  return o;
}

}  // namespace

status_sampler::status_sampler(system_status_options o)
    : opts_(std::move(o)),
      layout_(find_cgroups(validated(opts_).root)),
      cpu_(opts_.root, layout_, opts_.cpu_count),
      memory_(opts_.root, layout_) {}

void status_sampler::sample(clock::time_point now) noexcept {
  try {
    std::optional<double> cpu;
    double memory = 0;
    {
      std::lock_guard lk(probe_mu_);
      cpu = cpu_.read(now);
      memory = memory_.read();
    }
    std::lock_guard lk(mu_);
    if (cpu) cpu_history_.add(now, *cpu > opts_.max_cpu_ratio);
    memory_history_.add(now, memory > opts_.max_memory_ratio);
    forget_old(now);
  } catch (...) {
    std::lock_guard lk(mu_);
    if (!failure_) failure_ = std::current_exception();
  }
}

void status_sampler::record_lag(clock::time_point now, clock::duration late) noexcept {
  std::lock_guard lk(mu_);
  lag_history_.add(now, late > opts_.max_lag);
  forget_old(now);
}

void status_sampler::forget_old(clock::time_point now) {
  const auto horizon = now - opts_.historical_window;
  cpu_history_.forget_before(horizon);
  memory_history_.forget_before(horizon);
  lag_history_.forget_before(horizon);
}

status_report status_sampler::report(clock::time_point now, clock::duration window) const {
  std::lock_guard lk(mu_);
  if (failure_) std::rethrow_exception(failure_);
  const auto since = now - window;
  status_report r;
  r.cpu = cpu_history_.overloaded_share(since);
  r.memory = memory_history_.overloaded_share(since);
  r.lag = lag_history_.overloaded_share(since);
  r.overloaded = r.cpu > opts_.cpu_overloaded_ratio || r.memory > opts_.memory_overloaded_ratio ||
                 r.lag > opts_.lag_overloaded_ratio;
  return r;
}

std::string status_sampler::sources() const {
  return "CPU from " + cpu_.source() + ", memory from " + memory_.source();
}

}  // namespace fiberpool::detail
