// status_log: the autoscaled pool's log lines: a status line, a change of desired concurrency and
// the summary when run() ends.
// spdlog compiles SPDLOG_LOGGER_DEBUG out below its default active level (info); the status line
// is at debug, so this file asks for debug before spdlog is included.
#define SPDLOG_ACTIVE_LEVEL SPDLOG_LEVEL_DEBUG

#include "autoscale/autoscale_core.hpp"

#include <chrono>
#include <string>

#include <spdlog/spdlog.h>

#include <fiberpool/errors.hpp>

namespace fiberpool::detail {

namespace {

std::string what_of(const std::exception_ptr& e) {
  try {
    std::rethrow_exception(e);
  } catch (const std::exception& x) {
    return x.what();
  } catch (const job_terminated& k) {
    return k.what();
  } catch (...) {
    return "an exception not derived from std::exception";
  }
}

}  // namespace

void autoscale_core::log_status() const {
  std::unique_lock lk(mu_);
  // Copied, so that the sinks are not called with mu_ held.
  const auto current = current_, desired = desired_, started = counts_.started;
  const auto settings = settings_;
  const bool paused = paused_;
  const auto now = last_current_, window = last_historical_;
  lk.unlock();
  SPDLOG_LOGGER_DEBUG(log_,
                      "fiberpool: autoscaled_pool '{}': current concurrency {}, desired {} (min {}, max {}){}; "
                      "overloaded samples now: cpu {:.2f}, memory {:.2f}, lag {:.2f}; over the autoscale window: "
                      "cpu {:.2f}, memory {:.2f}, lag {:.2f}; {} tasks started",
                      name_, current, desired, settings.min, settings.max, paused ? ", paused" : "", now.cpu,
                      now.memory, now.lag, window.cpu, window.memory, window.lag, started);
}

void autoscale_core::log_scaled(std::size_t from, std::size_t to, const status_report& h) const {
  SPDLOG_LOGGER_DEBUG(log_,
                      "fiberpool: autoscaled_pool '{}': desired concurrency {} -> {} ({}; overloaded samples: "
                      "cpu {:.2f}, memory {:.2f}, lag {:.2f})",
                      name_, from, to, h.overloaded ? "overloaded" : "idle and busy", h.cpu, h.memory, h.lag);
}

void autoscale_core::log_summary(ending how, const std::exception_ptr& failure) const {
  std::string outcome;
  switch (how) {
    case ending::finished: outcome = "finished"; break;
    case ending::aborted: outcome = "aborted"; break;
    case ending::failed: outcome = "failed: " + what_of(failure); break;
    case ending::interrupted: outcome = "interrupted: the job that ran it was killed"; break;
  }
  std::unique_lock lk(mu_);
  const auto counts = counts_;
  const auto desired = desired_;
  const auto settings = settings_;
  lk.unlock();
  const std::chrono::duration<double> took = clock::now() - counts.began;
  SPDLOG_LOGGER_INFO(log_,
                     "fiberpool: autoscaled_pool '{}' {} after {:.2f} s: {} tasks started, {} succeeded, {} failed, "
                     "{} terminated; desired concurrency {} (min {}, max {})",
                     name_, outcome, took.count(), counts.started, counts.succeeded, counts.failed,
                     counts.terminated, desired, settings.min, settings.max);
}

void autoscale_core::log_task_killed(const std::exception_ptr& e) const noexcept {
  SPDLOG_LOGGER_WARN(log_,
                     "fiberpool: autoscaled_pool '{}': a task was terminated ({}), not by the pool; the run goes on",
                     name_, what_of(e));
}

}  // namespace fiberpool::detail
