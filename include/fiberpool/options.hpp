// Configuration of a pool and of one job: every default written and explained.
#pragma once

#include <cstddef>
#include <cstdint>
#include <exception>
#include <functional>
#include <memory>
#include <optional>
#include <string>

#include <fiberpool/types.hpp>

namespace spdlog { class logger; }

namespace fiberpool {

// The smallest stack_size accepted (smaller throws std::invalid_argument): room for Boost.Context's
// own frame, a few calls and a log line.
inline constexpr std::size_t min_stack_size = 16 * 1024;
// The largest stack_size accepted (larger throws std::invalid_argument): 1 GiB. A stack is
// reserved address space, committed as it is touched, but every job reserves a whole one, so a
// size near this bound runs few jobs at once; deep recursion belongs on the heap.
inline constexpr std::size_t max_stack_size = std::size_t{1} << 30;

struct pool_options {
  // Shown in logs and info().
  std::string name = "pool";
  // Jobs running at once (eventlet GreenPool size). 0 is allowed: every job stays queued until
  // grow() or resize() makes room.
  std::size_t limit = 1000;
  // Scheduler threads the pool owns; 0 = std::thread::hardware_concurrency(). Ignored when the
  // pool runs on a shared runtime.
  std::size_t threads = 1;
  // Usable stack bytes per job fiber, rounded up to whole pages; a guard page sits below it.
  std::size_t stack_size = 64 * 1024;
  // Queued jobs beyond which apply() applies on_overflow.
  std::size_t max_queued = SIZE_MAX;
  overflow on_overflow = overflow::block;
  // Defaults for every job; job_options can override them.
  std::optional<clock::duration> soft_time_limit;
  std::optional<clock::duration> hard_time_limit;
  // Null: fiberpool::logger() at the time the pool is made.
  std::shared_ptr<spdlog::logger> logger;
  // A job that ends failed (its target threw) is logged at error level, once, with its id, name,
  // group, the exception's type and what() (eventlet prints the traceback, Celery logs every
  // failure), whether or not anyone get()s it. false: logged at debug level only; the failures are
  // still counted (info().failed) and signalled (signal_bus::job_failed).
  bool log_failures = true;
};

struct job_options {
  // Shown in logs, info() and jobs().
  std::string name;
  // Task group; empty: none.
  std::string group;
  // Override the pool's time limits for this job.
  std::optional<clock::duration> soft_time_limit;
  std::optional<clock::duration> hard_time_limit;
  // Celery's accept_callback: the job left the queue and starts. Runs on the job's fiber, before
  // the target. An exception it throws is logged and the job goes on.
  std::function<void(job_id)> on_accepted;
  // Runs exactly once for every job apply() accepted, whatever its end; the exception_ptr is set
  // for failed and terminated jobs. Runs before job::get() returns and before waitall() can see
  // the job gone. An exception it throws is logged.
  std::function<void(job_id, job_state, std::exception_ptr)> on_ended;
};

}  // namespace fiberpool
