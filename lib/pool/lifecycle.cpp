// Lifecycle (Celery BasePool): start, close, stop, stop_for, terminate, restart; and killing jobs.
#include <string>

#include <spdlog/spdlog.h>

#include <fiberpool/errors.hpp>
#include <fiberpool/task_pool.hpp>

#include "pool/pool_core.hpp"
#include "runtime/runtime_core.hpp"

namespace fiberpool::detail {

void pool_core::start() {
  job_record* startable = nullptr;
  {
    std::lock_guard lk(mu_);
    if (state_ != pool_state::created)
      throw fiberpool::error("fiberpool: start() on pool '" + opts.name + "', which is " +
                             std::string(to_string(state_)) + "; a pool starts once (use restart() to "
                             "replace its threads, or make a new pool)");
    state_ = pool_state::running;
    started_ = true;
  }
  SPDLOG_LOGGER_INFO(log, "fiberpool: pool '{}' started: limit {}, {} thread(s)", opts.name, limit(), num_processes());
  signals.pool_started.emit(self);
  {
    std::lock_guard lk(mu_);
    startable = take_startable();
  }
  launch_chain(startable);
}

void pool_core::close() {
  std::lock_guard lk(mu_);
  if (state_ == pool_state::created || state_ == pool_state::running) state_ = pool_state::closed;
  // Submitters blocked on a full queue must now see pool_closed.
  room_waiters_.notify_all();
}

void pool_core::check_not_own_job(const char* what) const {
  job_record* j = current_job();
  if (j && j->owner == this)
    throw deadlock_error(std::string("fiberpool: ") + what + " was called from job " + std::to_string(j->id()) +
                         " of pool '" + opts.name + "', which would wait for itself; call it from outside the pool");
}

// begin_shutdown: closes the pool and emits pool_preshutdown; false if another caller already
// shuts it down (this one then just waits for the end).
bool pool_core::begin_shutdown(const char* what) {
  check_not_own_job(what);
  bool first = false;
  bool never_started = false;
  {
    std::lock_guard lk(mu_);
    if (!shutting_down_) {
      first = shutting_down_ = true;
      never_started = !started_;
      state_ = pool_state::closed;
      room_waiters_.notify_all();  // submitters blocked on a full queue must now see pool_closed
      // A pool that never started cannot run its maps' jobs either: their feeders stop.
      if (never_started) stop_feeders();
    }
  }
  if (!first) {
    stopped_.wait();
    return false;
  }
  SPDLOG_LOGGER_INFO(log, "fiberpool: pool '{}' shutting down ({})", opts.name, what);
  signals.pool_preshutdown.emit(self);
  // Jobs of a pool that never started cannot run: they end cancelled.
  if (never_started) cancel_all_queued();
  return true;
}

void pool_core::finish_shutdown() {
  timer_->clear();
  timer_->wait_idle();
  {
    std::lock_guard lk(mu_);
    state_ = pool_state::stopped;
  }
  signals.pool_postshutdown.emit(self);
  SPDLOG_LOGGER_INFO(log, "fiberpool: pool '{}' stopped", opts.name);
  stopped_.set();
}

void pool_core::stop() {
  if (!begin_shutdown("stop()")) return;
  let_maps_finish();
  waitall_until(std::nullopt, true);
  finish_shutdown();
}

void pool_core::let_maps_finish() {
  std::lock_guard lk(mu_);
  unbound_feeders();
}

void pool_core::stop_everything(int signal) {
  {
    std::lock_guard lk(mu_);
    stop_feeders();
  }
  kill_all(signal);
}

bool pool_core::stop_for(clock::duration grace) {
  if (!begin_shutdown("stop_for()")) return true;
  let_maps_finish();
  bool in_time = waitall_until(clock::now() + grace, true);
  if (!in_time) {
    SPDLOG_LOGGER_WARN(log, "fiberpool: pool '{}': jobs still running after the grace period; terminating them",
                       opts.name);
    stop_everything(SIGTERM);
    waitall_until(std::nullopt, true);
  }
  finish_shutdown();
  return in_time;
}

void pool_core::terminate() {
  if (!begin_shutdown("terminate()")) return;
  stop_everything(SIGTERM);
  waitall_until(std::nullopt, true);
  finish_shutdown();
}

void pool_core::restart() {
  {
    std::lock_guard lk(mu_);
    if (state_ != pool_state::running)
      throw fiberpool::error("fiberpool: restart() on pool '" + opts.name + "', which is " +
                             std::string(to_string(state_)) + "; only a running pool can restart");
  }
  SPDLOG_LOGGER_INFO(log, "fiberpool: pool '{}' restarting its scheduler threads", opts.name);
  rt_->restart();
}

void pool_core::cancel_all_queued() {
  std::vector<job_record*> cancelled;
  {
    std::lock_guard lk(mu_);
    while (queue_head_) {
      job_record* rec = queue_head_;
      unlink_queued(*rec);
      rec->ending = true;
      cancelled.push_back(rec);
    }
  }
  for (job_record* rec : cancelled) complete(*rec, job_state::cancelled, slot_kind::none);
}

void pool_core::kill_all(int signal) {
  cancel_all_queued();
  std::lock_guard lk(mu_);
  live_.for_each([&](job_id, job_record* rec) {
    if (!rec->ending) request_cancel(*rec, cancel_kind::kill, signal);
  });
}

job_record* pool_core::cancel_job(job_record& rec, int signal) noexcept {
  if (rec.ending) return nullptr;
  if (rec.state() == job_state::queued) {
    unlink_queued(rec);
    rec.ending = true;
    return &rec;
  }
  request_cancel(rec, cancel_kind::kill, signal);
  return nullptr;
}

bool pool_core::terminate_job(job_id id, int signal) {
  job_record* cancelled = nullptr;
  {
    std::lock_guard lk(mu_);
    job_record* found = live_.find(id);
    if (!found || found->ending) return false;
    cancelled = cancel_job(*found, signal);
  }
  if (cancelled) complete(*cancelled, job_state::cancelled, slot_kind::none);
  return true;
}

void pool_core::waitall() {
  check_not_own_job("waitall()");
  waitall_until(std::nullopt);
}

bool pool_core::waitall_until(std::optional<clock::time_point> deadline, bool with_maps) {
  detail::raise_cancellation();
  std::unique_lock lk(mu_);
  auto done = [&] { return with_maps ? quiet() : idle(); };
  while (!done()) {
    auto st = wait_on(idle_waiters_, lk, deadline);
    if (st == wait_status::timed_out) return done();
    if (st == wait_status::cancelled) {
      lk.unlock();
      detail::raise_cancellation();
      lk.lock();
    }
  }
  return true;
}

}  // namespace fiberpool::detail
