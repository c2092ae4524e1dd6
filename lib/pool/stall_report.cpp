// stall_report: matching stalled threads to the pool's jobs, the warnings and their back-off,
// and what jobs() reports of a job's thread, pending kill and stall.
#include "pool/stall_report.hpp"

#include <algorithm>
#include <string>

#include <spdlog/spdlog.h>

#include "pool/pool_core.hpp"
#include "runtime/runtime_core.hpp"

namespace fiberpool::detail {
namespace {

// "850 ms", "3.2 s", "2 min 5 s": a stall's length reads at a glance.
std::string span_text(clock::duration d) {
  using namespace std::chrono;
  auto ms = duration_cast<milliseconds>(d).count();
  if (ms < 1000) return std::to_string(ms) + " ms";
  if (ms < 60'000) return fmt::format("{:.1f} s", static_cast<double>(ms) / 1000.0);
  return fmt::format("{} min {} s", ms / 60'000, (ms % 60'000) / 1000);
}

std::string job_name(const job_record& rec) {
  return rec.extras && !rec.extras->name.empty() ? rec.extras->name : "-";
}

}  // namespace

pending_kill pending_kill_of(const job_record& rec, clock::time_point now) noexcept {
  pending_kill p;
  auto c = rec.cancel.load(std::memory_order_acquire);
  auto kind = static_cast<cancel_kind>(c & 0xff);
  if (kind == cancel_kind::kill) {
    p.what = pending_kill::kind::kill;
    p.signal = static_cast<int>(c >> 8);
    return p;
  }
  const auto& limit = rec.extras ? rec.extras->hard_time_limit : std::nullopt;
  if (kind == cancel_kind::hard_limit || (limit && now - rec.started_at >= *limit)) {
    p.what = pending_kill::kind::hard_limit;
    if (limit) {
      p.limit = *limit;
      p.overdue = std::max(clock::duration::zero(), now - rec.started_at - *limit);
    }
  }
  return p;
}

void stall_report::attach(runtime_core* rt) {
  if (pool_.opts.stall_warning == clock::duration::zero()) return;
  if (rt_) rt_->unwatch_stalls(*this);
  rt_ = nullptr;
  episodes_.clear();
  if (!rt) return;
  rt->watch_stalls(*this, pool_.opts.stall_warning);
  rt_ = rt;
}

void stall_report::threads_stalled(std::span<const stalled_thread> stalled, clock::time_point now) noexcept {
  try {
    const auto warning = pool_.opts.stall_warning;
    // No job can have held a thread longer than the thread has been seen stalled.
    bool long_enough = std::any_of(stalled.begin(), stalled.end(), [&](auto& t) { return now - t.since >= warning; });
    std::vector<stalled_job> jobs;
    if (long_enough) jobs = pool_.stalled_jobs(stalled, now);
    for (auto& [_, e] : episodes_) e.seen = false;
    for (const stalled_job& j : jobs) {
      auto [it, fresh] = episodes_.try_emplace(j.id);
      episode& e = it->second;
      if (fresh || e.since != j.since) e = {j.since, warning, false, false, j.thread, j.name};
      e.seen = true;
      const auto held = now - j.since;
      if (held < e.next_warning) continue;
      warn(j, held);
      e.warned = true;
      // 1x, 2x, 4x... the warning: a stall that lasts minutes logs a few lines, not hundreds.
      while (e.next_warning <= held) e.next_warning *= 2;
    }
    for (auto it = episodes_.begin(); it != episodes_.end();) {
      if (it->second.seen) {
        ++it;
        continue;
      }
      const episode& e = it->second;
      if (e.warned)
        SPDLOG_LOGGER_INFO(pool_.log, "fiberpool: job {} ({}) in pool '{}' let go of scheduler thread {} after "
                           "holding it for at least {}", it->first, e.name, pool_.opts.name, e.thread,
                           span_text(now - e.since));
      it = episodes_.erase(it);
    }
  } catch (...) {
    // Out of memory while formatting: the next sample tries again.
  }
}

void stall_report::warn(const stalled_job& j, clock::duration held) noexcept {
  std::string waiting;
  switch (j.pending.what) {
    case pending_kill::kind::kill:
      waiting = fmt::format("a kill (signal {}) is waiting for it, and cannot be delivered until it reaches one",
                            j.pending.signal);
      break;
    case pending_kill::kind::hard_limit:
      waiting = fmt::format("its hard time limit ({}) passed {} ago; the kill is waiting for it, and cannot be "
                            "delivered until it reaches one", span_text(j.pending.limit), span_text(j.pending.overdue));
      break;
    case pending_kill::kind::none:
      waiting = "no kill is waiting for it; the other fibers of that thread wait meanwhile";
      break;
  }
  SPDLOG_LOGGER_WARN(pool_.log, "fiberpool: job {} ({}) in pool '{}' has held scheduler thread {} for {} without "
                     "reaching a switch point (a CPU loop or a blocking call?); {}", j.id, j.name, pool_.opts.name,
                     j.thread, span_text(held), waiting);
}

std::vector<stalled_job> pool_core::stalled_jobs(std::span<const stalled_thread> stalled, clock::time_point now) {
  std::vector<stalled_job> out;
  std::lock_guard lk(mu_);
  live_.for_each([&](job_id id, job_record* rec) {
    fiber_site* site = rec->site.load(std::memory_order_acquire);
    if (!site) return;
    for (const stalled_thread& t : stalled) {
      if (t.context != site->context) continue;
      // A job started on the fiber after the stall was first seen (an inline child) has held the
      // thread since its own start.
      auto since = std::max(t.since, rec->started_at);
      if (now - since >= opts.stall_warning) {
        rec->thread = static_cast<std::uint32_t>(t.thread);
        out.push_back({id, job_name(*rec), t.thread, since, pending_kill_of(*rec, now)});
      }
      break;
    }
  });
  return out;
}

void pool_core::describe_activity(job_info& j, const job_record& rec, std::span<const thread_activity> threads,
                                  clock::time_point now) const noexcept {
  j.thread = rec.thread;
  j.kill_pending = pending_kill_of(rec, now).what != pending_kill::kind::none;
  fiber_site* site = rec.site.load(std::memory_order_acquire);
  if (!site) return;
  for (const thread_activity& t : threads) {
    if (t.context != site->context) continue;
    j.thread = t.thread;
    if (t.stalled_since && opts.stall_warning > clock::duration::zero()) {
      auto held = now - std::max(*t.stalled_since, rec.started_at);
      if (held >= opts.stall_warning) j.stalled_for = held;
    }
    break;
  }
}

}  // namespace fiberpool::detail
