// default_system_status: the status_sampler driven by timers on the pool's runtime.
// spdlog compiles SPDLOG_LOGGER_DEBUG out below its default active level (info); this file logs
// its sources at debug, so it asks for debug before spdlog is included.
#define SPDLOG_ACTIVE_LEVEL SPDLOG_LEVEL_DEBUG

#include <fiberpool/system_status.hpp>

#include <spdlog/spdlog.h>

#include <fiberpool/log.hpp>
#include <fiberpool/runtime.hpp>
#include <fiberpool/timer.hpp>

#include "autoscale/lag_probe.hpp"
#include "autoscale/status_sampler.hpp"

namespace fiberpool {

default_system_status::default_system_status(runtime& rt, system_status_options options,
                                             std::shared_ptr<spdlog::logger> log) {
  if (!log) log = fiberpool::logger();
  sampler_ = std::make_shared<detail::status_sampler>(std::move(options));
  const auto& o = sampler_->options();
  sampler_->sample(clock::now());  // the first CPU reading is the baseline of the second
  timer_ = std::make_unique<fiberpool::timer>(rt, log);
  timer_->call_repeatedly(o.sample_interval, [s = sampler_] { s->sample(clock::now()); });
  lag_ = std::make_shared<detail::lag_probe>(sampler_, o.lag_interval);
  lag_->start(*timer_);
  SPDLOG_LOGGER_DEBUG(log, "fiberpool: system_status reads {}", sampler_->sources());
}

default_system_status::~default_system_status() {
  lag_->stop();
  timer_.reset();  // cancels the timers and waits for a callback in progress
}

status_report default_system_status::current() {
  return sampler_->report(clock::now(), sampler_->options().current_window);
}

status_report default_system_status::historical() {
  return sampler_->report(clock::now(), sampler_->options().historical_window);
}

}  // namespace fiberpool
