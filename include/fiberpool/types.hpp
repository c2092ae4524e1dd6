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
  // thread: the index of the scheduler thread it runs on (0 to threads - 1, as
  // runtime_options::on_thread_start numbers them; 0 on a hosted runtime). A job suspended in a
  // wait may resume on another thread: it is then where the pool last saw it run. 0 while queued.
  std::size_t thread = 0;
  // kill_pending: a kill (terminate_job, cancel, terminate) or a passed hard time limit has not
  // ended the job yet. It is delivered at the job's next cancellation point; a job in a CPU loop
  // (see stalled_for) never reaches one, and keeps this set for as long as it spins.
  bool kill_pending = false;
  // stalled_for: set while the job holds its scheduler thread past pool_options::stall_warning
  // without reaching a switch point (a wait, a yield, its end): how long it has held it so far, a
  // lower bound (the runtime samples its threads a few times per stall_warning). Such a job keeps
  // every other fiber of that thread waiting, and cannot be killed until it switches.
  std::optional<clock::duration> stalled_for;
  int worker_pid = 0;                           // process_pool: the worker running it; 0 otherwise
  // waiting_on: empty while the job runs or is ready to; while it is suspended at a cancellation
  // point, what it waits for: "event @0x...", "semaphore @0x...", "channel push @0x...",
  // "channel pop @0x...", "sleep", "read fd 7", "write fd 7", "job 12" (its get() or wait()),
  // "offload", "apply: room in pool @0x...", "free slot in pool @0x...", "waitall @0x...",
  // "map room @0x...", "map result @0x...". Objects are named by address, so two jobs waiting on
  // the same event show the same text.
  std::string waiting_on;
  std::optional<clock::time_point> waiting_since;  // when that wait began
  std::optional<clock::time_point> waiting_until;  // the wait's deadline, if it has one
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
  std::size_t workers_replaced = 0;  // process_pool: workers that exited and were replaced
  std::size_t workers_lost = 0;      // process_pool: workers that died with jobs or unasked
};

}  // namespace fiberpool
