// Maps and locking: lock/unlock, is_full, gather_and_close, and the life of a map's feeder fiber.
#include <string>

#include <spdlog/spdlog.h>

#include <fiberpool/errors.hpp>
#include <fiberpool/task_pool.hpp>

#include "log/describe.hpp"
#include "pool/pool_core.hpp"
#include "runtime/runtime_core.hpp"

namespace fiberpool::detail {

void pool_core::lock() {
  std::lock_guard lk(mu_);
  locked_ = true;
}

void pool_core::unlock() {
  std::lock_guard lk(mu_);
  locked_ = false;
}

bool pool_core::is_locked() const {
  std::lock_guard lk(mu_);
  return locked_;
}

bool pool_core::is_full() const {
  std::lock_guard lk(mu_);
  return running_ + borrowed_ >= limit_;
}

void pool_core::gather_and_close() {
  check_not_own_job("gather_and_close()");
  {
    std::lock_guard lk(mu_);
    if (state_ == pool_state::created)
      throw fiberpool::error("fiberpool: gather_and_close() on pool '" + opts.name + "', which was never "
                             "started: its jobs could never end; start() it first, or stop() it to cancel them");
    locked_ = true;
    unbound_feeders();
  }
  // Whatever ends the wait (every job and map done, or the caller's own job being killed), the
  // pool is closed: a failure never leaves it open. Jobs' errors stay with their handles.
  struct closer {
    pool_core& pool;
    ~closer() { pool.close(); }
  } at_exit{*this};
  waitall_until(std::nullopt, true);
}

std::string pool_core::start_map(map_feeder& f, std::string group) {
  {
    std::lock_guard lk(mu_);
    if (state_ == pool_state::closed || state_ == pool_state::stopped)
      throw pool_closed("fiberpool: map() on pool '" + opts.name + "', which is " + std::string(to_string(state_)) +
                        " and accepts no more work; map before close()/stop(), or make a new pool");
    if (locked_)
      throw pool_locked("fiberpool: map() on pool '" + opts.name + "', which is locked; unlock() it first");
    if (group.empty()) {
      do group = "map-" + std::to_string(next_map_++);
      while (groups_.contains(group));
    } else if (groups_.contains(group)) {
      throw group_exists("fiberpool: map(): pool '" + opts.name + "' already has a task group '" + group +
                         "'; a map needs a group of its own: pass a new job_options::group, or leave it empty "
                         "for a generated one");
    }
    group_state& g = group_named(group);
    try {
      g.feeders.push_back(&f);
    } catch (...) {
      groups_.erase(group);
      throw;
    }
    f.owner = this;
    f.grp = &g;
    f.group_name = group;
    ++feeders_;
  }
  SPDLOG_LOGGER_DEBUG(log, "fiberpool: pool '{}' starts a map in group '{}'", opts.name, group);
  rtc_->submit(&f);
  return group;
}

void pool_core::run_feeder(map_feeder& f) noexcept {
  fiber_site* site = nullptr;
  try {
    site = &install_fiber_site();
  } catch (...) {
    SPDLOG_LOGGER_ERROR(log, "fiberpool: pool '{}' could not start the feeder of map '{}': {}", opts.name,
                        f.group_name, describe(std::current_exception()));
    return discard_feeder(f);
  }
  site->hosts_jobs = false;
  site->current = &f;
  {
    std::lock_guard lk(mu_);
    f.site = site;
  }
  f.feed();
  {
    std::lock_guard lk(mu_);
    f.site = nullptr;
  }
  site->current = nullptr;
  site->hosts_jobs = true;
  retire_feeder(f);
}

void pool_core::discard_feeder(map_feeder& f) noexcept {
  f.stop_requested.store(true, std::memory_order_release);
  retire_feeder(f);
}

void pool_core::retire_feeder(map_feeder& f) noexcept {
  {
    std::lock_guard lk(mu_);
    if (f.grp) f.grp->drop_feeder(f);
    f.grp = nullptr;
    --feeders_;
    if (quiet()) idle_waiters_.notify_all();
  }
  // The pool may be gone from here on (its stop() waited only for this count): only the stream's
  // state is touched.
  f.finish();
  delete &f;
}

void pool_core::stop_feeder(map_feeder& f) noexcept {
  f.stop_requested.store(true, std::memory_order_release);
  // f.site is cleared under mu_ (held here) before the feeder retires, so it is alive.
  if (f.site) f.site->wake();
}

void pool_core::stop_feeders() noexcept {
  for (auto& [name, g] : groups_)
    for (map_feeder* f : g->feeders) stop_feeder(*f);
}

void pool_core::unbound_feeders() noexcept {
  for (auto& [name, g] : groups_)
    for (map_feeder* f : g->feeders) f->unbound();
}

void map_feeder::apply_item(job_record& rec, job_options&& opts) { owner->submit(rec, std::move(opts), this); }
task* map_feeder::run() noexcept {
  owner->run_feeder(*this);
  return nullptr;
}
void map_feeder::discard() noexcept { owner->discard_feeder(*this); }

}  // namespace fiberpool::detail
