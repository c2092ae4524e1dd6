// A job's life on its fiber: accept callback, time limits, the target, and its one recorded end.
#include <string>

#include <spdlog/spdlog.h>

#include <fiberpool/errors.hpp>
#include <fiberpool/task_pool.hpp>

#include "base/tick_clock.hpp"
#include "log/describe.hpp"
#include "pool/pool_core.hpp"
#include "runtime/runtime_core.hpp"

namespace fiberpool::detail {
namespace {

std::uint64_t span_ns(clock::duration d) noexcept {
  const auto ns = std::chrono::duration_cast<std::chrono::nanoseconds>(d).count();
  return ns > 0 ? static_cast<std::uint64_t>(ns) : 0;
}

const char* job_name(const job_record& rec) {
  return rec.extras && !rec.extras->name.empty() ? rec.extras->name.c_str() : "-";
}

}  // namespace

job_record* current_job() noexcept {
  fiber_site* site = this_fiber_site();
  return site && site->hosts_jobs ? static_cast<job_record*>(site->current) : nullptr;
}

job_record* pool_core::run_job(job_record& rec) noexcept {
  fiber_site* site = nullptr;
  try {
    site = &install_fiber_site();
  } catch (...) {
    // Out of memory before the job could start: it ends failed, its end still recorded once.
    rec.error = std::current_exception();
  }
  job_record* startable =
      site ? execute(rec, *site, slot_kind::pooled) : record_end(rec, job_state::failed, slot_kind::pooled);
  // The first job the end let start runs next on this carrier; the others get carriers of their own.
  if (startable) launch_chain(std::exchange(startable->next_queued, nullptr));
  return startable;
}

void pool_core::run_inline(job_record& rec) noexcept {
  // The parent goes on on this fiber: whatever the child's end let start is launched.
  launch_chain(execute(rec, install_fiber_site(), slot_kind::borrowed));
}

void pool_core::discard_job(job_record& rec) noexcept {
  rec.failure_told = true;  // the runtime logs a burst of these once
  rec.error = std::make_exception_ptr(fiberpool::error(
      "fiberpool: pool '" + opts.name + "' could not create a fiber for job " + std::to_string(rec.id())));
  complete(rec, job_state::failed, slot_kind::pooled);
}

job_record* pool_core::execute(job_record& rec, fiber_site& site, slot_kind slot) noexcept {
  // A pooled job is run by a carrier, which read the clock just before; an inline one is not.
  const bool carried = slot == slot_kind::pooled;
  const clock::time_point start = carried ? runtime_core::task_start_time() : clock::now();
  // Kept here, not in the record: the job runs within this frame, and a record stays as small as
  // it can (a million blocked jobs hold a million records).
  const std::uint64_t started_tick = carried ? runtime_core::task_start_tick() : base::tick_clock::now();
  // Only a job that waited in the queue is timed here: the others waited 0, and stats() counts
  // them from started_count_ - queued_starts_ without a record per job.
  if (rec.was_queued) timings_.record(queue_wait, span_ns(start - rec.started_at));
  rec.started_at = start;
  rec.thread = static_cast<std::uint32_t>(runtime_core::thread_index());
  // Published without the pool's lock (one lock less per job, and the one two threads fought over
  // most). Against a canceller (request_cancel) this is a store-then-load pair on each side, all
  // seq_cst: either the canceller sees the site and wakes it, or raise_cancellation() below sees
  // the request.
  rec.site.store(&site, std::memory_order_seq_cst);
  rec.inline_parent = static_cast<job_record*>(site.current);
  site.current = &rec;

  job_state end = job_state::succeeded;
  try {
    arm_limits(rec);
    signals.job_started.emit(self, rec.id());
    rec.raise_cancellation();  // killed between admission and start
    if (rec.extras && rec.extras->on_accepted) accept(rec);
    rec.invoke();
  } catch (const job_terminated&) {
    end = job_state::terminated;
    rec.error = std::current_exception();
  } catch (...) {
    end = job_state::failed;
    rec.error = std::current_exception();
  }
  // job_local<T> values end with the job, on its fiber, before anyone hears of the end.
  rec.locals.reset();
  site.current = rec.inline_parent;
  // The end is decided under the lock that terminate_job() takes, so a kill either lands here
  // or finds the job ending and returns false: it is never accepted and then ignored. With no
  // on_ended and no job_ended receiver, nothing runs between the decision and the recording:
  // complete() does both under one lock.
  const bool quiet = ends_quietly(rec);
  // A carried job that ends quietly lends its end time to its carrier, which would read the
  // counter again a few hundred nanoseconds later (runtime_core::job_end_tick()).
  record_run_time(started_tick, carried && quiet);
  if (quiet) return record_end(rec, end, slot, true);
  // Once `ending` is set no canceller touches the request again, so it can be read after unlocking.
  {
    std::lock_guard lk(mu_);
    rec.ending = true;
  }
  // The kill is sticky: a job that swallowed it (catch (...)) and returned still ends terminated.
  if (end != job_state::terminated) {
    if (auto kill = rec.kill_exception()) {
      end = job_state::terminated;
      rec.error = kill;
    }
  }
  return record_end(rec, end, slot);
}

void pool_core::record_run_time(std::uint64_t started_tick, bool lend_to_carrier) noexcept {
  // Ticks, not the clock: 15 ns where steady_clock costs 36 (base/tick_clock.hpp), and lent to the
  // carrier, not even that. A job that moved threads while it ran reads another core's counter, in
  // step with its own where the counter is invariant; one that reads lower counts 0.
  const std::uint64_t now = lend_to_carrier ? runtime_core::job_end_tick() : base::tick_clock::now();
  const std::uint64_t ticks = now > started_tick ? now - started_tick : 0;
  timings_.record(run_time, base::tick_clock::ns_of(ticks));
}

bool pool_core::ends_quietly(const job_record& rec) const noexcept {
  return !(rec.extras && rec.extras->on_ended) && signals.job_ended.receivers() == 0 &&
         signals.job_failed.receivers() == 0;
}

void pool_core::report_failure(const job_record& rec) noexcept {
  if (!opts.log_failures || rec.failure_told) {
    SPDLOG_LOGGER_DEBUG(log, "fiberpool: job {} ({}) in pool '{}' failed: {}", rec.id(), job_name(rec), opts.name,
                        describe(rec.error));
    return;
  }
  const bool grouped = rec.extras && !rec.extras->group.empty();
  SPDLOG_LOGGER_ERROR(log, "fiberpool: job {} ({}) in pool '{}'{}{}{} failed: {}: {}", rec.id(), job_name(rec),
                      opts.name, grouped ? ", group '" : "", grouped ? rec.extras->group : std::string(),
                      grouped ? "'" : "", type_name(rec.error), describe(rec.error));
}

void pool_core::accept(job_record& rec) noexcept {
  try {
    rec.extras->on_accepted(rec.id());
  } catch (...) {
    SPDLOG_LOGGER_ERROR(log, "fiberpool: on_accepted of job {} ({}) in pool '{}' threw: {}", rec.id(),
                        job_name(rec), opts.name, describe(std::current_exception()));
  }
}

void pool_core::complete(job_record& rec, job_state end, slot_kind slot, bool decide_kill) noexcept {
  launch_chain(record_end(rec, end, slot, decide_kill));
}

job_record* pool_core::record_end(job_record& rec, job_state end, slot_kind slot, bool decide_kill) noexcept {
  disarm_limits(rec);
  rec.drop_target();
  if (end == job_state::failed && !decide_kill) report_failure(rec);
  // Callbacks first, so that get() and waitall() return only after on_ended has run.
  if (rec.extras && rec.extras->on_ended) {
    try {
      rec.extras->on_ended(rec.id(), end, end == job_state::failed || end == job_state::terminated ? rec.error : nullptr);
    } catch (...) {
      SPDLOG_LOGGER_ERROR(log, "fiberpool: on_ended of job {} ({}) in pool '{}' threw: {}", rec.id(), job_name(rec),
                          opts.name, describe(std::current_exception()));
    }
  }
  if (end == job_state::failed) signals.job_failed.emit(self, rec.id(), rec.error);
  signals.job_ended.emit(self, rec.id(), end);

  job_record* startable = nullptr;
  bool report_now = false;
  bool tell_idle_after_report = false;
  {
    std::lock_guard lk(mu_);
    if (decide_kill) {
      rec.ending = true;
      // The kill is sticky: a job that swallowed it (catch (...)) and returned still ends terminated.
      if (end != job_state::terminated) {
        if (auto kill = rec.kill_exception()) {
          end = job_state::terminated;
          rec.error = kill;
        }
      }
    }
    rec.site.store(nullptr, std::memory_order_relaxed);  // readers hold mu_
    forget_live(rec);
    // Remembered until flush(), so that cancel() can tell an ended job from an unknown id. Not a
    // map's item: its outcome in the stream is its record, and a map over ten million items must
    // not grow the pool by ten million ids.
    if (!(rec.extras && rec.extras->listener))
      ended_ids_.add(rec.id(), end == job_state::cancelled || rec.kill_requested());
    ++ended_[static_cast<std::size_t>(end)];
    if (slot == slot_kind::pooled) --running_;
    if (slot == slot_kind::borrowed) --borrowed_;
    if (slot == slot_kind::none) {  // cancelled while queued: counted as waiting until now
      --waiting_;
      room_waiters_.notify_one();
    }
    rec.state_.store(end, std::memory_order_release);
    startable = take_startable();
    offer_free_slots();
    // A failure decided here is logged after the lock; whoever waits for the pool to go idle
    // (waitall(), stop()) must find it logged.
    report_now = decide_kill && end == job_state::failed;
    if (idle()) {
      if (report_now) tell_idle_after_report = true;
      else idle_waiters_.notify_all();
    }
  }
  // Before anyone is told of the end: from then on the job's error belongs to its reader (a map's
  // stream takes it out of the record).
  if (report_now) report_failure(rec);
  if (tell_idle_after_report) {
    std::lock_guard lk(mu_);
    if (idle()) idle_waiters_.notify_all();
  }
  {
    std::lock_guard lk(rec.mu);
    rec.waiters.notify_all();
  }
  // A map's item: its stream may hand the outcome out now, and its feeder pull the next item.
  if (rec.extras && rec.extras->listener) rec.extras->listener->job_recorded(rec);
  rec.release();  // the pool's reference
  // The freed slot goes to the next queued job, started on this same thread.
  return startable;
}

void pool_core::arm_limits(job_record& rec) {
  if (!rec.extras) return;
  auto arm = [&](const std::optional<clock::duration>& limit, cancel_kind kind) -> timer_handle {
    if (!limit) return {};
    return rtc_->call_at(rec.started_at + *limit, [token = token_, id = rec.id(), kind] {
      std::lock_guard lk(token->mu);
      if (token->pool) token->pool->on_limit(id, kind);
    });
  };
  rec.extras->soft_timer = arm(rec.extras->soft_time_limit, cancel_kind::soft_limit);
  rec.extras->hard_timer = arm(rec.extras->hard_time_limit, cancel_kind::hard_limit);
}

void pool_core::disarm_limits(job_record& rec) noexcept {
  if (!rec.extras) return;
  rtc_->cancel(std::exchange(rec.extras->soft_timer, {}));
  rtc_->cancel(std::exchange(rec.extras->hard_timer, {}));
}

void pool_core::on_limit(job_id id, cancel_kind kind) noexcept {
  {
    std::lock_guard lk(mu_);
    job_record* rec = live_.find(id);
    if (!rec || rec->ending) return;
    request_cancel(*rec, kind, kind == cancel_kind::hard_limit ? SIGKILL : SIGUSR1);
  }
  SPDLOG_LOGGER_WARN(log, "fiberpool: job {} in pool '{}' reached its {} time limit", id, opts.name,
                     kind == cancel_kind::hard_limit ? "hard" : "soft");
}

void pool_core::request_cancel(job_record& rec, cancel_kind kind, int signal) noexcept {
  // A kill is never downgraded to a soft limit; a weaker request changes nothing.
  if (!rec.request(kind, signal)) return;
  // rec.site is cleared under mu_ (held here) before the fiber can end, so it is alive. seq_cst:
  // see execute().
  if (fiber_site* site = rec.site.load(std::memory_order_seq_cst)) site->wake();
}

}  // namespace fiberpool::detail
