// Basic vocabulary types: clock, job ids, pool/job states, overflow policy, info snapshots.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace fiberpool {

using clock = std::chrono::steady_clock;

// Pseudo-pid of a job: unique in the process, starts at 1, never reused; 0 means "no job".
using job_id = std::uint64_t;

enum class pool_state { created, running, closed, stopped };

// A job ends in exactly one of succeeded (target returned), failed (target threw), terminated
// (killed while running) or cancelled (removed before it ever ran).
enum class job_state { queued, running, succeeded, failed, terminated, cancelled };

// What apply() does when waiting() >= pool_options::max_queued.
enum class overflow { block, reject };

std::string_view to_string(pool_state s) noexcept;
std::string_view to_string(job_state s) noexcept;

// is_terminal: true for succeeded, failed, terminated and cancelled.
constexpr bool is_terminal(job_state s) noexcept {
  return s != job_state::queued && s != job_state::running;
}

// A live job as task_pool::jobs() reports it.
struct job_info {
  job_id id = 0;
  std::string name;
  std::string group;
  job_state state = job_state::queued;
  std::optional<clock::time_point> started_at;  // set once the job left the queue
};

// A snapshot of a pool as task_pool::info() reports it.
struct pool_info {
  std::string name;
  pool_state state = pool_state::created;
  std::size_t limit = 0;
  std::size_t threads = 0;
  std::size_t running = 0;
  std::size_t waiting = 0;
  std::size_t succeeded = 0;   // jobs ended in each terminal state since the pool was made
  std::size_t failed = 0;
  std::size_t terminated = 0;
  std::size_t cancelled = 0;
  std::size_t remembered = 0;  // ended jobs whose ids the pool keeps (8 bytes each) until flush()
  std::size_t groups = 0;      // task groups the pool knows (see task_pool::group_ids)
};

}  // namespace fiberpool
