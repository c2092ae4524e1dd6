// autoscale_core: construction, and the members that only change state and wake run().
#include "autoscale/autoscale_core.hpp"

#include <fiberpool/log.hpp>

#include "autoscale/options_check.hpp"

namespace fiberpool::detail {

namespace {

const autoscaled_options& checked(const autoscaled_options& o) {
  check(o);
  return o;
}

// The autoscaled pool does its own admission; the pool's limit only mirrors concurrency.max. (A task
// started right after another's on_ended ran may wait a moment in the pool's queue for that one's
// slot: it counts as started, and it starts as soon as the slot is released.)
pool_options limited_to(pool_options p, std::size_t max) {
  p.limit = max;
  return p;
}

}  // namespace

autoscale_core::autoscale_core(autoscaled_options opts, pool_options pool)
    : opts_(checked(opts)),
      ratios_{opts_.scale_up_step_ratio, opts_.scale_down_step_ratio, opts_.desired_concurrency_ratio},
      name_(pool.name),
      log_(pool.logger ? pool.logger : fiberpool::logger()),
      settings_(opts_.concurrency),
      desired_(opts_.concurrency.desired),
      window_(opts_.concurrency.max_tasks_per_minute),
      pool_(limited_to(std::move(pool), opts_.concurrency.max)) {
  pool_.start();
  status_ = opts_.status ? opts_.status
                         : std::make_shared<default_system_status>(pool_.runtime(), opts_.status_options, log_);
}

autoscale_core::~autoscale_core() {
  status_.reset();  // its timers run on the pool's runtime
  // With no task running (run() is the only starter, and it has returned) the pool stops
  // gracefully; otherwise ~task_pool terminates the tasks, which unwind while the state exists.
  if (current() == 0) pool_.stop();
}

void autoscale_core::abort() {
  {
    std::lock_guard lk(mu_);
    abort_requested_ = true;
  }
  wake_.set();
}

void autoscale_core::pause() {
  std::lock_guard lk(mu_);
  paused_ = true;
}

void autoscale_core::resume() {
  {
    std::lock_guard lk(mu_);
    paused_ = false;
  }
  wake_.set();
}

bool autoscale_core::paused() const {
  std::lock_guard lk(mu_);
  return paused_;
}

std::size_t autoscale_core::current() const {
  std::lock_guard lk(mu_);
  return current_;
}

std::size_t autoscale_core::desired() const {
  std::lock_guard lk(mu_);
  return desired_;
}

concurrency_settings autoscale_core::concurrency() const {
  std::lock_guard lk(mu_);
  auto s = settings_;
  s.desired = desired_;
  return s;
}

void autoscale_core::set_concurrency(const concurrency_settings& s) {
  s.validate();
  std::lock_guard order(set_mu_);  // the pool's limit follows the settings of the last call
  pool_.resize(s.max);
  {
    std::lock_guard lk(mu_);
    settings_ = s;
    desired_ = s.desired;
    window_.set_limit(s.max_tasks_per_minute);
  }
  wake_.set();
}

}  // namespace fiberpool::detail
