// Task groups and cancelling by id (asyncio-taskpool): group_ids, cancel, cancel_group, cancel_all,
// and flush, which forgets ended jobs and idle groups.
#include <algorithm>
#include <string>

#include <spdlog/spdlog.h>

#include <fiberpool/errors.hpp>
#include <fiberpool/task_pool.hpp>

#include "pool/pool_core.hpp"

namespace fiberpool::detail {
namespace {

std::string job_text(job_id id, const std::string& pool) {
  return "job " + std::to_string(id) + " of pool '" + pool + "'";
}

}  // namespace

group_state& pool_core::group_named(std::string_view name) {
  auto it = groups_.find(name);
  if (it == groups_.end()) {
    auto g = std::make_unique<group_state>();
    g->name = std::string(name);
    it = groups_.emplace(g->name, std::move(g)).first;
  }
  return *it->second;
}

std::vector<job_id> pool_core::group_ids(std::string_view group) const {
  std::vector<job_id> ids;
  {
    std::lock_guard lk(mu_);
    auto it = groups_.find(group);
    if (it == groups_.end())
      throw group_not_found("fiberpool: pool '" + opts.name + "' has no task group '" + std::string(group) +
                            "'; groups are made by apply() with job_options::group and by map(), and forgotten "
                            "by cancel_group(), cancel_all() and flush()");
    ids.reserve(it->second->members);
    for (job_record* r = it->second->first; r; r = r->extras->group_next) ids.push_back(r->id());
  }
  std::sort(ids.begin(), ids.end());
  return ids;
}

bool pool_core::has_group(std::string_view group) const {
  std::lock_guard lk(mu_);
  return groups_.find(group) != groups_.end();
}

void pool_core::check_cancellable(job_id id) const {
  if (job_record* rec = live_.find(id)) {
    if (rec->ending && rec->state() == job_state::queued)
      throw already_cancelled("fiberpool: cancel(): " + job_text(id, opts.name) + " is already being cancelled");
    if (rec->ending)
      throw already_ended("fiberpool: cancel(): " + job_text(id, opts.name) + " has already ended");
    if (rec->kill_requested())
      throw already_cancelled("fiberpool: cancel(): " + job_text(id, opts.name) +
                              " was already cancelled and is unwinding; wait for it instead");
    return;
  }
  switch (ended_ids_.find(id)) {
    case ended_log::end_kind::cancelled:
      throw already_cancelled("fiberpool: cancel(): " + job_text(id, opts.name) + " was already cancelled");
    case ended_log::end_kind::ended:
      throw already_ended("fiberpool: cancel(): " + job_text(id, opts.name) + " has already ended");
    case ended_log::end_kind::unknown:
      break;
  }
  throw invalid_job_id("fiberpool: cancel(): pool '" + opts.name + "' knows no job " + std::to_string(id) +
                       "; pass ids apply() returned from this pool (ended jobs are forgotten by flush())");
}

void pool_core::cancel(std::span<const job_id> ids) {
  std::vector<job_record*> cancelled;
  cancelled.reserve(ids.size());
  {
    std::lock_guard lk(mu_);
    // Every id first: one bad id cancels nothing.
    for (job_id id : ids) check_cancellable(id);
    for (job_id id : ids) {
      job_record* rec = live_.find(id);
      if (!rec || rec->kill_requested()) continue;  // an id given twice
      if (job_record* c = cancel_job(*rec, SIGTERM)) cancelled.push_back(c);
    }
  }
  for (job_record* rec : cancelled) complete(*rec, job_state::cancelled, slot_kind::none);
}

void pool_core::cancel_members(group_state& g, std::vector<job_record*>& cancelled) noexcept {
  while (job_record* rec = g.first) {
    g.leave(*rec);
    if (job_record* c = cancel_job(*rec, SIGTERM)) cancelled.push_back(c);
  }
}

void pool_core::cancel_group(std::string_view group) {
  std::vector<job_record*> cancelled;
  {
    std::lock_guard lk(mu_);
    auto it = groups_.find(group);
    if (it == groups_.end())
      throw group_not_found("fiberpool: cancel_group(): pool '" + opts.name + "' has no task group '" +
                            std::string(group) + "' (already cancelled, or forgotten by flush()?)");
    group_state& g = *it->second;
    cancelled.reserve(g.members);
    // Feeders first, in the same critical section as the jobs: a feeder that saw a job end could
    // otherwise apply one more item into a group that is being cancelled.
    for (map_feeder* f : g.feeders) {
      stop_feeder(*f);
      f->grp = nullptr;
    }
    cancel_members(g, cancelled);
    groups_.erase(it);
  }
  SPDLOG_LOGGER_DEBUG(log, "fiberpool: pool '{}' cancelled task group '{}'", opts.name, group);
  for (job_record* rec : cancelled) complete(*rec, job_state::cancelled, slot_kind::none);
}

void pool_core::forget_groups() noexcept {
  for (auto& [name, g] : groups_) {
    while (job_record* rec = g->first) g->leave(*rec);
    for (map_feeder* f : g->feeders) f->grp = nullptr;
  }
  groups_.clear();
}

void pool_core::cancel_all() {
  {
    std::lock_guard lk(mu_);
    stop_feeders();
    forget_groups();
  }
  kill_all(SIGTERM);
}

void pool_core::flush() {
  ended_log forgotten;
  std::vector<std::unique_ptr<group_state>> idle_groups;
  {
    std::lock_guard lk(mu_);
    idle_groups.reserve(groups_.size());
    std::swap(forgotten, ended_ids_);
    for (auto it = groups_.begin(); it != groups_.end();) {
      if (it->second->idle()) {
        idle_groups.push_back(std::move(it->second));
        it = groups_.erase(it);
      } else {
        ++it;
      }
    }
  }
  // The blocks and groups are freed here, outside the lock.
}

}  // namespace fiberpool::detail
