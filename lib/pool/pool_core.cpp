// pool_core: construction and destruction, and the introspection snapshots.
#include "pool/pool_core.hpp"

#include <algorithm>
#include <stdexcept>
#include <string>

#include <spdlog/spdlog.h>

#include <fiberpool/log.hpp>
#include <fiberpool/task_pool.hpp>

#include "runtime/runtime_core.hpp"

namespace fiberpool::detail {

void register_fault_report() noexcept;  // fault_report.cpp

namespace {

pool_options checked(pool_options o) {
  check_stack_size(o.stack_size, "pool_options::stack_size");
  if (o.stall_warning < clock::duration::zero())
    throw std::invalid_argument("fiberpool: pool_options::stall_warning is negative; use zero to turn stall "
                                "warnings off");
  return o;
}

std::unique_ptr<fiberpool::runtime> own_runtime(const pool_options& o, fiberpool::runtime* shared, bool hosted = false) {
  if (shared) return nullptr;
  runtime_options r;
  r.name = o.name;
  r.threads = o.threads;
  r.stack_size = o.stack_size;
  r.hosted = hosted;
  return std::make_unique<fiberpool::runtime>(std::move(r));
}

}  // namespace

pool_core::pool_core(task_pool& owner, pool_options o, fiberpool::runtime* shared)
    : self(owner),
      opts(checked(std::move(o))),
      log(opts.logger ? opts.logger : fiberpool::logger()),
      owned_rt_(own_runtime(opts, shared)),
      rt_(shared ? shared : owned_rt_.get()),
      rtc_(&rt_->core()),
      token_(std::make_shared<pool_token>()),
      timer_(std::make_unique<fiberpool::timer>(*rt_, log)),
      limit_(opts.limit) {
  token_->pool = this;
  signals.set_logger(log);
  register_fault_report();
  stalls_.attach(rtc_);
}

pool_core::~pool_core() {
  listed_.leave();  // prometheus_text() and dump_jobs() stop looking before the pool winds down
  if (state() != pool_state::stopped) {
    try {
      terminate();
    } catch (const std::exception& e) {
      SPDLOG_LOGGER_CRITICAL(log, "fiberpool: destroying pool '{}' failed: {}", opts.name, e.what());
      std::terminate();
    }
  }
  {
    std::lock_guard lk(token_->mu);  // waits for a limit action firing right now
    token_->pool = nullptr;
  }
  stalls_.attach(nullptr);  // before the runtime it listens to can go
  timer_.reset();
  owned_rt_.reset();
}

void pool_core::register_with_event_loop(event_loop& loop) {
  if (!owned_rt_ && !rtc_->hosted())
    throw error("fiberpool: pool '" + opts.name + "' runs on a shared runtime with threads of its own; to drive "
                "it from an event loop, make that runtime hosted (runtime_options::hosted)");
  {
    std::lock_guard lk(mu_);
    if (state_ != pool_state::created)
      throw error("fiberpool: register_with_event_loop() on pool '" + opts.name + "', which is " +
                  std::string(to_string(state_)) + "; register before start()");
  }
  if (registered_) throw error("fiberpool: pool '" + opts.name + "' is already registered with an event loop");
  if (!owned_rt_) {
    // A shared hosted runtime is driven once, for all its pools, as long as it lives.
    rtc_->drive_from(loop);
    registered_ = true;
    return;
  }
  if (!owned_rt_->hosted()) {
    // Nothing has run on the pool's own threads yet (jobs applied before start() wait in the
    // pool's queue), so they can be replaced by a runtime hosted on this, the loop's, thread.
    auto hosted = own_runtime(opts, nullptr, true);
    timer_ = std::make_unique<fiberpool::timer>(*hosted, log);
    stalls_.attach(&hosted->core());  // before the old runtime goes
    owned_rt_ = std::move(hosted);
    rt_ = owned_rt_.get();
    rtc_ = &rt_->core();
  }
  // The pool's own runtime leaves the loop once the pool has stopped.
  rtc_->drive_from(loop, [this] { return state() != pool_state::stopped; });
  registered_ = true;
}

pool_state pool_core::state() const {
  std::lock_guard lk(mu_);
  return state_;
}

bool pool_core::did_start_ok() const { return state() == pool_state::running && rt_->started(); }

std::size_t pool_core::limit() const {
  std::lock_guard lk(mu_);
  return limit_;
}

std::size_t pool_core::running() const {
  std::lock_guard lk(mu_);
  return running_ + borrowed_;
}

std::size_t pool_core::waiting() const {
  std::lock_guard lk(mu_);
  return waiting_;
}

std::size_t pool_core::free_slots() const {
  std::lock_guard lk(mu_);
  std::size_t busy = running_ + borrowed_;
  return limit_ > busy ? limit_ - busy : 0;
}

std::size_t pool_core::num_processes() const { return rt_->threads(); }

pool_info pool_core::info() const {
  pool_info i;
  i.name = opts.name;
  i.threads = num_processes();
  std::lock_guard lk(mu_);
  i.state = state_;
  i.limit = limit_;
  i.running = running_ + borrowed_;
  i.waiting = waiting_;
  i.succeeded = ended_[static_cast<std::size_t>(job_state::succeeded)];
  i.failed = ended_[static_cast<std::size_t>(job_state::failed)];
  i.terminated = ended_[static_cast<std::size_t>(job_state::terminated)];
  i.cancelled = ended_[static_cast<std::size_t>(job_state::cancelled)];
  i.remembered = ended_ids_.size();
  i.groups = groups_.size();
  return i;
}

std::vector<job_info> pool_core::jobs() const {
  std::vector<job_info> out;
  // What each thread runs, read before the lock (the watchdog's own lock is never taken under it).
  const auto threads = rtc_->activity();
  const auto now = clock::now();
  {
    std::lock_guard lk(mu_);
    out.reserve(live_.size());
    live_.for_each([&](job_id id, job_record* rec) {
      job_info j;
      j.id = id;
      if (rec->extras) {
        j.name = rec->extras->name;
        j.group = rec->extras->group;
      }
      j.state = rec->state();
      if (fiber_site* site = rec->site.load(std::memory_order_acquire)) {  // started: started_at is written
        j.started_at = rec->started_at;
        describe_activity(j, *rec, threads, now);
        // The site is alive while mu_ is held: the job's end clears rec->site under mu_ first.
        if (auto w = waiting_now(*site)) {
          j.waiting_on = std::move(w->what);
          j.waiting_since = w->since;
          j.waiting_until = w->until;
        }
      }
      out.push_back(std::move(j));
    });
  }
  std::sort(out.begin(), out.end(), [](const job_info& a, const job_info& b) { return a.id < b.id; });
  return out;
}

}  // namespace fiberpool::detail
