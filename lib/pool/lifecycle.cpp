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
    offer_free_slots();
  }
  launch_chain(startable);
}

void pool_core::close() {
  std::lock_guard lk(mu_);
  if (state_ == pool_state::created || state_ == pool_state::running) state_ = pool_state::closed;
  // Submitters blocked on a full queue must now see pool_closed.
  room_waiters_.notify_all();
  slot_waiters_.notify_all();
}

void pool_core::check_not_own_job(const char* what) const {
  job_record* j = current_job();
  if (j && j->owner == this)
    throw deadlock_error(std::string("fiberpool: ") + what + " was called from job " + std::to_string(j->id()) +
                         " of pool '" + opts.name + "', which would wait for itself; call it from outside the pool");
}

// begin_shutdown: closes the pool and emits pool_preshutdown. `joined` if another caller is
// shutting it down (this one has waited for the end); `resumed` if a stop_for() gave up on jobs
// that would not unwind, so this caller finishes that shutdown (pool_preshutdown was emitted).
pool_core::shutdown_turn pool_core::begin_shutdown(const char* what) {
  check_not_own_job(what);
  bool first = false;
  bool never_started = false;
  {
    std::lock_guard lk(mu_);
    if (left_unfinished_) {
      left_unfinished_ = false;
      return shutdown_turn::resumed;
    }
    if (!shutting_down_) {
      first = shutting_down_ = true;
      never_started = !started_;
      state_ = pool_state::closed;
      room_waiters_.notify_all();  // submitters blocked on a full queue must now see pool_closed
      slot_waiters_.notify_all();
      // A pool that never started cannot run its maps' jobs either: their feeders stop.
      if (never_started) stop_feeders();
    }
  }
  if (!first) {
    stopped_.wait();
    return shutdown_turn::joined;
  }
  SPDLOG_LOGGER_INFO(log, "fiberpool: pool '{}' shutting down ({})", opts.name, what);
  signals.pool_preshutdown.emit(self);
  // Jobs of a pool that never started cannot run: they end cancelled.
  if (never_started) cancel_all_queued();
  return shutdown_turn::first;
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
  if (begin_shutdown("stop()") == shutdown_turn::joined) return;
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
  const auto deadline = clock::now() + grace;
  if (begin_shutdown("stop_for()") == shutdown_turn::joined) return true;
  let_maps_finish();
  if (waitall_until(deadline, true)) {
    finish_shutdown();
    return true;
  }
  SPDLOG_LOGGER_WARN(log, "fiberpool: pool '{}': jobs still running after the grace period; terminating them",
                     opts.name);
  stop_everything(SIGTERM);
  // A killed job unwinds at its next cancellation point; one that never reaches one (a CPU loop)
  // cannot be waited for here without breaking the grace, so it is named and left to whoever
  // finishes the shutdown: stop(), terminate() or the destructor.
  if (waitall_until(clock::now() + unwind_margin, true)) {
    finish_shutdown();
    return false;
  }
  {
    std::lock_guard lk(mu_);
    left_unfinished_ = true;
  }
  SPDLOG_LOGGER_WARN(log, "fiberpool: pool '{}': stop_for() returns with {}; the pool stays closed, and the "
                     "destructor (or terminate()) waits for them", opts.name, jobs_left());
  return false;
}

void pool_core::terminate() {
  if (begin_shutdown("terminate()") == shutdown_turn::joined) return;
  stop_everything(SIGTERM);
  wait_for_unwinding("terminate()");
  finish_shutdown();
}

void pool_core::wait_for_unwinding(const char* what) {
  // Killed jobs that do not unwind hold the caller here: say which, again and again, less often.
  auto every = std::chrono::duration_cast<clock::duration>(std::chrono::seconds(1));
  while (!waitall_until(clock::now() + every, true)) {
    SPDLOG_LOGGER_WARN(log, "fiberpool: pool '{}': {} waits for {} to unwind (killed, but not at a "
                       "cancellation point: a CPU loop or a raw blocking call)", opts.name, what, jobs_left());
    every = std::min<clock::duration>(every * 2, std::chrono::minutes(1));
  }
}

std::string pool_core::jobs_left() const {
  std::string out;
  std::size_t n = 0;
  for (const job_info& j : jobs()) {
    if (j.state != job_state::running) continue;
    out += n++ ? ", " : "";
    out += "job " + std::to_string(j.id) + " (" + (j.name.empty() ? "-" : j.name) + ") on thread " +
           std::to_string(j.thread);
  }
  return std::to_string(n) + (n == 1 ? " job" : " jobs") + (n ? ": " + out : std::string());
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
  // A pool never started never gets idle by itself: say so once the wait has lasted a while.
  std::optional<clock::time_point> nag;
  if (!started_) nag = clock::now() + never_started_nag;
  while (!done()) {
    const bool nag_first = nag && (!deadline || *nag < *deadline);
    auto st = wait_on(idle_waiters_, lk, nag_first ? nag : deadline, {"waitall", this});
    if (st == wait_status::timed_out && nag_first) {
      nag.reset();
      if (started_) continue;
      lk.unlock();
      warn_never_started("waitall()");
      lk.lock();
      continue;
    }
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
