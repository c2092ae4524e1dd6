// run_loop: autoscaled_pool::run(): start tasks, rescale, finish, and stop on the first failure.
#include "autoscale/autoscale_core.hpp"

#include <algorithm>

namespace fiberpool::detail {

void autoscale_core::run() {
  {
    std::lock_guard lk(mu_);
    if (running_)
      throw error("fiberpool: autoscaled_pool::run() is already running; call run() from one place at a time");
    running_ = true;
    terminating_ = false;
    failure_ = nullptr;
    counts_ = run_counts{};
    counts_.began = clock::now();
  }
  ending how = ending::interrupted;
  std::exception_ptr interrupted;  // run() is itself a job's, and that job is being killed
  try {
    how = drive();
  } catch (...) {
    interrupted = std::current_exception();
  }
  if (how != ending::finished) {
    terminate_tasks();
    // A kill is sticky, so once run()'s own job is killed it cannot wait: its tasks unwind alone.
    if (!interrupted) interrupted = wait_for_tasks();
  }
  std::exception_ptr failure;
  {
    std::lock_guard lk(mu_);
    running_ = false;
    abort_requested_ = false;  // this run() answered it
    failure = failure_;
  }
  log_summary(interrupted ? ending::interrupted : how, failure);
  if (interrupted) std::rethrow_exception(interrupted);
  if (failure) std::rethrow_exception(failure);
}

autoscale_core::ending autoscale_core::drive() {
  auto now = clock::now();
  auto next_scale = now + opts_.autoscale_interval;
  auto next_log = now + opts_.logging_interval;
  for (;;) {
    // Cleared before looking at the state: whatever changes it from here on sets it again, so
    // the wait below returns at once instead of missing it.
    wake_.clear();
    {
      std::lock_guard lk(mu_);
      if (failure_) return ending::failed;
      if (abort_requested_) return ending::aborted;
    }
    now = clock::now();
    try {
      if (now >= next_scale) {
        autoscale();
        next_scale = now + opts_.autoscale_interval;
      }
      if (now >= next_log) {
        log_status();
        next_log = now + opts_.logging_interval;
      }
      if (start_tasks()) return ending::finished;
    } catch (...) {
      record_failure(std::current_exception());
      continue;
    }
    auto wake_at = std::min({next_scale, next_log, now + opts_.maybe_run_interval});
    {
      std::lock_guard lk(mu_);
      if (auto opens = window_.opens_at(clock::now())) wake_at = std::min(wake_at, *opens);
    }
    wake_.wait_until(wake_at);
  }
}

bool autoscale_core::start_tasks() {
  for (;;) {
    const auto now = clock::now();
    bool idle = false;
    bool below_min = false;
    {
      std::lock_guard lk(mu_);
      if (paused_ || abort_requested_ || failure_ || current_ >= desired_) return false;
      idle = current_ == 0;
      below_min = current_ < settings_.min;
    }
    const status_report status = status_->current();
    {
      std::lock_guard lk(mu_);
      last_current_ = status;
    }
    // An overload holds back tasks beyond min only (as in Crawlee): min tasks always run, so a
    // machine kept busy by others slows the pool down but never stalls it.
    if (status.overloaded && !below_min) return false;
    if (!opts_.is_task_ready()) return idle && opts_.is_finished();
    // The rate limit is checked only once a task is ready, so that an empty queue ends run()
    // even while the window is full.
    {
      std::lock_guard lk(mu_);
      if (!window_.allows(now)) return false;
    }
    start_one(now);
  }
}

void autoscale_core::start_one(clock::time_point now) {
  {
    std::lock_guard lk(mu_);
    ++current_;
    ++counts_.started;
    window_.record(now);
  }
  job_options jo;
  jo.name = name_ + "-task";
  jo.on_ended = [this](job_id, job_state s, std::exception_ptr e) { task_ended(s, std::move(e)); };
  try {
    pool_.apply(std::move(jo), opts_.run_task);
  } catch (...) {
    std::lock_guard lk(mu_);
    --current_;
    --counts_.started;
    throw;
  }
}

void autoscale_core::autoscale() {
  const status_report historical = status_->historical();
  std::size_t from = 0;
  std::size_t to = 0;
  {
    std::lock_guard lk(mu_);
    last_historical_ = historical;
    from = desired_;
    to = desired_ = next_desired(desired_, current_, historical.overloaded, settings_, ratios_);
  }
  if (to != from) log_scaled(from, to, historical);
}

void autoscale_core::terminate_tasks() {
  {
    std::lock_guard lk(mu_);
    terminating_ = true;
  }
  // Only run() starts tasks, and it has stopped, so this list is complete.
  for (const auto& j : pool_.jobs()) pool_.terminate_job(j.id);
}

std::exception_ptr autoscale_core::wait_for_tasks() {
  for (;;) {
    wake_.clear();
    if (current() == 0) return nullptr;
    try {
      wake_.wait();
    } catch (...) {
      return std::current_exception();
    }
  }
}

void autoscale_core::record_failure(std::exception_ptr e) noexcept {
  std::lock_guard lk(mu_);
  if (!failure_) failure_ = std::move(e);
}

void autoscale_core::task_ended(job_state s, std::exception_ptr e) noexcept {
  if (s == job_state::terminated) {
    bool stopping = false;
    {
      std::lock_guard lk(mu_);
      stopping = failure_ || abort_requested_ || terminating_ || !running_;
    }
    // A task killed by someone else (a hard time limit) is not an exception of the task: as a
    // timed-out task in Crawlee, it is reported and the run goes on. Reported before the task
    // counts as ended, so that the report comes before run() can return.
    if (!stopping) log_task_killed(e);
  }
  {
    std::lock_guard lk(mu_);
    --current_;
    if (s == job_state::succeeded) ++counts_.succeeded;
    else if (s == job_state::failed) ++counts_.failed;
    else ++counts_.terminated;
    // Failures of tasks unwinding from an abort or an earlier failure are not the cause.
    if (s == job_state::failed && !failure_ && !abort_requested_ && !terminating_) failure_ = std::move(e);
  }
  wake_.set();
}

}  // namespace fiberpool::detail
