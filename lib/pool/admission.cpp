// Admission: apply() decides start, queue, wait for room, refuse, or run inline; resizing starts
// what the new limit lets through.
#include <string>
#include <utility>

#include <fiberpool/errors.hpp>
#include <fiberpool/task_pool.hpp>

#include "pool/pool_core.hpp"
#include "runtime/runtime_core.hpp"

namespace fiberpool::detail {
namespace {

std::string closed_message(const std::string& name, pool_state s) {
  return "fiberpool: pool '" + name + "' is " + std::string(to_string(s)) +
         " and accepts no more jobs; apply() before close()/stop(), or make a new pool";
}

}  // namespace

std::unique_ptr<job_extras> pool_core::make_extras(job_options&& o) const {
  auto soft = o.soft_time_limit ? o.soft_time_limit : opts.soft_time_limit;
  auto hard = o.hard_time_limit ? o.hard_time_limit : opts.hard_time_limit;
  if (o.name.empty() && o.group.empty() && !soft && !hard && !o.on_accepted && !o.on_ended) return nullptr;
  auto x = std::make_unique<job_extras>();
  x->name = std::move(o.name);
  x->group = std::move(o.group);
  x->soft_time_limit = soft;
  x->hard_time_limit = hard;
  x->on_accepted = std::move(o.on_accepted);
  x->on_ended = std::move(o.on_ended);
  return x;
}

void pool_core::submit(job_record& rec, job_options&& o, map_feeder* from) {
  ref_ptr<job_record> pool_ref(&rec);  // adopted; handed to live_ once the job is accepted
  rec.owner = this;
  rec.extras = make_extras(std::move(o));
  if (from) {
    if (!rec.extras) rec.extras = std::make_unique<job_extras>();
    rec.extras->listener = from->listener;
  }
  job_record* caller = current_job();
  bool from_own_job = caller && caller->owner == this;

  std::unique_lock lk(mu_);
  bool start_now = false;
  for (;;) {
    if (from) {
      // A map admitted before lock() or close() goes on through them, as a queued job would; only
      // stopping its feeder (cancel_group, cancel_all, terminate) ends it.
      from->raise_cancellation();
    } else {
      if (state_ == pool_state::closed || state_ == pool_state::stopped) {
        ++rejected_;
        throw pool_closed(closed_message(opts.name, state_));
      }
      if (locked_) {
        ++rejected_;
        throw pool_locked("fiberpool: pool '" + opts.name + "' is locked and accepts no new jobs; unlock() it "
                          "first (queued jobs and running maps go on while it is locked)");
      }
    }
    if (from_own_job && running_ >= limit_) {
      // eventlet's rule: a job applying into its own full pool runs the child on its own fiber,
      // so recursion cannot deadlock waiting for a slot it holds itself.
      rec.is_inline = true;
      ++borrowed_;
      ++inline_runs_;
      ++started_count_;
      rec.state_.store(job_state::running, std::memory_order_release);
      break;
    }
    start_now = starts_now();
    if (start_now || waiting_ < opts.max_queued) break;
    if (opts.on_overflow == overflow::reject) {
      ++rejected_;
      throw pool_full("fiberpool: pool '" + opts.name + "' has " + std::to_string(waiting_) +
                      " jobs queued (max_queued); retry later, raise max_queued, or use overflow::block");
    }
    if (detail::wait_on(room_waiters_, lk, std::nullopt, {"apply: room in pool", this}) == wait_status::cancelled) {
      lk.unlock();
      detail::raise_cancellation();
      lk.lock();
    }
  }
  // Joining a group may allocate (a new group), so it comes before anything that must be undone.
  group_state* grp = nullptr;
  if (rec.extras && !rec.extras->group.empty()) grp = from ? from->grp : &group_named(rec.extras->group);
  live_.insert(rec.id(), pool_ref.get());
  if (grp) grp->join(rec);
  ++applied_;
  if (start_now) {
    ++running_;
    ++started_count_;
    rec.state_.store(job_state::running, std::memory_order_release);
  } else if (!rec.is_inline) {
    enqueue(rec);
  }
  lk.unlock();
  pool_ref.detach();  // the pool's reference now lives in live_

  // Started from one of the runtime's threads, the fiber is made right here, so apply() can report
  // that no stack was left instead of accepting a job that cannot run. The fiber only runs once
  // this fiber yields, so pool_apply still comes before job_started.
  if (start_now) {
    bool started;
    try {
      started = rtc_->start_here(&rec);
    } catch (const std::exception& e) {
      withdraw(rec);
      throw fiberpool::error("fiberpool: pool '" + opts.name + "' could not start a job: " + e.what() +
                             "; the job was not accepted");
    }
    signals.pool_apply.emit(self, rec.id());
    if (!started) launch(rec);
    return;
  }
  signals.pool_apply.emit(self, rec.id());
  if (rec.is_inline) run_inline(rec);
}

void pool_core::withdraw(job_record& rec) noexcept {
  {
    std::lock_guard lk(mu_);
    forget_live(rec);
    --running_;
    offer_free_slots();
    if (idle()) idle_waiters_.notify_all();
  }
  rec.release();  // the pool's reference; the caller's handle goes with the exception
}

void pool_core::forget_live(job_record& rec) noexcept {
  live_.erase(rec.id());
  if (rec.extras && rec.extras->grp) rec.extras->grp->leave(rec);
}

void pool_core::enqueue(job_record& rec) noexcept {
  // The queue wait is measured from here (one clock read, on the path of a job that waits anyway).
  rec.started_at = clock::now();
  rec.was_queued = true;
  rec.prev_queued = queue_tail_;
  rec.next_queued = nullptr;
  if (queue_tail_) queue_tail_->next_queued = &rec;
  else queue_head_ = &rec;
  queue_tail_ = &rec;
  ++waiting_;
}

void pool_core::unlink_queued(job_record& rec) noexcept {
  if (rec.prev_queued) rec.prev_queued->next_queued = rec.next_queued;
  else queue_head_ = rec.next_queued;
  if (rec.next_queued) rec.next_queued->prev_queued = rec.prev_queued;
  else queue_tail_ = rec.prev_queued;
  rec.prev_queued = rec.next_queued = nullptr;
}

void pool_core::leave_queue(job_record& rec) noexcept {
  unlink_queued(rec);
  --waiting_;
  room_waiters_.notify_one();
}

bool pool_core::starts_now() const noexcept {
  // A closed pool still starts jobs: a map's items (admitted before close()) get here.
  return started_ && (state_ == pool_state::running || state_ == pool_state::closed) && running_ < limit_ &&
         !queue_head_;
}

void pool_core::offer_free_slots() noexcept {
  if (!starts_now()) return;
  for (std::size_t room = limit_ - running_; room > 0 && room_waiters_.notify_one(); --room) {
  }
  slot_waiters_.notify_all();
}

bool pool_core::wait_for_free_slot(std::optional<clock::time_point> deadline) {
  std::unique_lock lk(mu_);
  for (;;) {
    if (state_ != pool_state::created && state_ != pool_state::running) return false;
    if (starts_now()) return true;
    auto st = wait_on(slot_waiters_, lk, deadline, {"free slot in pool", this});
    if (st == wait_status::timed_out) return state_ == pool_state::running && starts_now();
    if (st == wait_status::cancelled) {
      lk.unlock();
      detail::raise_cancellation();
      lk.lock();
    }
  }
}

job_record* pool_core::take_startable() noexcept {
  if (!started_ || (state_ != pool_state::running && state_ != pool_state::closed)) return nullptr;
  job_record* first = nullptr;
  job_record* last = nullptr;
  while (queue_head_ && running_ < limit_) {
    job_record* rec = queue_head_;
    leave_queue(*rec);
    ++running_;
    ++started_count_;
    ++queued_starts_;
    rec->state_.store(job_state::running, std::memory_order_release);
    if (last) last->next_queued = rec;
    else first = rec;
    last = rec;
  }
  return first;
}

void pool_core::launch(job_record& rec) { rtc_->submit(&rec); }

void pool_core::launch_chain(job_record* chain) {
  while (chain) {
    // Read before the launch: once launched, the job may run and end on another thread.
    job_record* next = std::exchange(chain->next_queued, nullptr);
    launch(*chain);
    chain = next;
  }
}

void pool_core::grow(std::size_t n) {
  change_limit([n](std::size_t old) { return old + std::min(n, SIZE_MAX - old); });
}

void pool_core::shrink(std::size_t n) {
  // Never kills: running jobs finish, and starts resume once running() < limit() again.
  change_limit([n](std::size_t old) { return old - std::min(n, old); });
}

void pool_core::resize(std::size_t new_limit) {
  change_limit([new_limit](std::size_t) { return new_limit; });
}

template <class F>
void pool_core::change_limit(F&& next_limit) {
  std::size_t old, now;
  job_record* startable = nullptr;
  {
    std::lock_guard lk(mu_);
    old = limit_;
    now = limit_ = next_limit(old);
    startable = take_startable();
    offer_free_slots();
  }
  signals.pool_resized.emit(self, old, now);
  launch_chain(startable);
}

}  // namespace fiberpool::detail
