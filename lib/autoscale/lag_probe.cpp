// lag_probe: scheduler lag, measured as how late a timer on the runtime fires.
#include "autoscale/lag_probe.hpp"

#include <algorithm>

namespace fiberpool::detail {

lag_probe::lag_probe(std::shared_ptr<status_sampler> sampler, clock::duration interval)
    : sampler_(std::move(sampler)), interval_(interval) {}

void lag_probe::start(fiberpool::timer& t) {
  std::lock_guard lk(mu_);
  timer_ = &t;
  arm();
}

void lag_probe::stop() {
  std::lock_guard lk(mu_);
  timer_ = nullptr;
}

void lag_probe::arm() {
  const auto due = clock::now() + interval_;
  // The callback holds the probe, so a late one never reaches a destroyed probe.
  timer_->call_at(due, [self = shared_from_this(), due] { self->fired(due); });
}

void lag_probe::fired(clock::time_point due) {
  const auto now = clock::now();
  sampler_->record_lag(now, std::max(clock::duration::zero(), now - due));
  std::lock_guard lk(mu_);
  if (timer_) arm();
}

}  // namespace fiberpool::detail
