// stall_report: a pool's side of stall detection: its jobs that hold a stalled thread, logged
// with back-off, and what jobs() says of a job's thread, pending kill and stall.
#pragma once

#include <cstddef>
#include <optional>
#include <span>
#include <string>
#include <unordered_map>

#include <fiberpool/types.hpp>

#include "runtime/stall_listener.hpp"

namespace fiberpool::detail {

class job_record;
class pool_core;
class runtime_core;

// A kill the job has not ended from yet: requested (terminate_job, terminate, a fired hard limit
// timer), or a hard time limit whose deadline passed though its timer could not fire (the stalled
// thread is often the one that would fire it).
struct pending_kill {
  enum class kind { none, kill, hard_limit } what = kind::none;
  int signal = 0;                     // kill
  clock::duration limit{};            // hard_limit: the limit,
  clock::duration overdue{};          // and how long ago it passed
};
// pending_kill_of: for a started job; the owner's lock held (started_at is written under it).
pending_kill pending_kill_of(const job_record& rec, clock::time_point now) noexcept;

// A job found holding a stalled thread past the pool's stall_warning.
struct stalled_job {
  job_id id = 0;
  std::string name;
  std::size_t thread = 0;
  clock::time_point since;  // the later of the thread's stall and the job's start
  pending_kill pending;
};

// Listens to the pool's runtime (runtime_core::watch_stalls). Each report is matched against the
// pool's running jobs by their fibers' contexts (pool_core::stalled_jobs), then logged: a warning
// once a job has held its thread for stall_warning, again at 2x, 4x, ... while it lasts, and one
// info line when it lets go. Only the watchdog thread calls threads_stalled(), so the episodes
// need no lock.
class stall_report final : public stall_listener {
 public:
  explicit stall_report(pool_core& pool) noexcept : pool_(pool) {}
  ~stall_report() { attach(nullptr); }
  stall_report(const stall_report&) = delete;
  stall_report& operator=(const stall_report&) = delete;

  // attach: listens to `rt` from now on, and no more to the runtime it listened to before; null
  // only stops listening. Does nothing for a pool whose stall_warning is zero. Throws
  // std::system_error if the watchdog thread cannot start.
  void attach(runtime_core* rt);

  void threads_stalled(std::span<const stalled_thread> stalled, clock::time_point now) noexcept override;

 private:
  struct episode {
    clock::time_point since;
    clock::duration next_warning{};  // held this long: warn (again)
    bool warned = false;
    bool seen = false;               // in the latest report
    std::size_t thread = 0;
    std::string name;
  };
  void warn(const stalled_job& j, clock::duration held) noexcept;

  pool_core& pool_;
  runtime_core* rt_ = nullptr;
  std::unordered_map<job_id, episode> episodes_;
};

}  // namespace fiberpool::detail
