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
  std::lock_guard lk(mu_);
  SPDLOG_LOGGER_DEBUG(log_,
                      "fiberpool: autoscaled_pool '{}': current concurrency {}, desired {} (min {}, max {}){}; "
                      "overloaded samples now: cpu {:.2f}, memory {:.2f}, lag {:.2f}; over the autoscale window: "
                      "cpu {:.2f}, memory {:.2f}, lag {:.2f}; {} tasks started",
                      name_, current_, desired_, settings_.min, settings_.max, paused_ ? ", paused" : "",
                      last_current_.cpu, last_current_.memory, last_current_.lag, last_historical_.cpu,
                      last_historical_.memory, last_historical_.lag, counts_.started);
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
  std::lock_guard lk(mu_);
  const std::chrono::duration<double> took = clock::now() - counts_.began;
  SPDLOG_LOGGER_INFO(log_,
                     "fiberpool: autoscaled_pool '{}' {} after {:.2f} s: {} tasks started, {} succeeded, {} failed, "
                     "{} terminated; desired concurrency {} (min {}, max {})",
                     name_, outcome, took.count(), counts_.started, counts_.succeeded, counts_.failed,
                     counts_.terminated, desired_, settings_.min, settings_.max);
}

}  // namespace fiberpool::detail
