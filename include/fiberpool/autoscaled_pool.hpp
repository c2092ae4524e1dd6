// autoscaled_pool: Crawlee's AutoscaledPool on fibers. It runs as many tasks at once as the system
// can take, scaling the desired concurrency up while the system is idle and the pool is busy, and
// down while the system is overloaded.
#pragma once

#include <chrono>
#include <cstddef>
#include <functional>
#include <limits>
#include <memory>

#include <fiberpool/options.hpp>
#include <fiberpool/system_status.hpp>
#include <fiberpool/types.hpp>

namespace fiberpool {

namespace detail { class autoscale_core; }

// How many tasks may run at once, and how often one may start.
struct concurrency_settings {
  // The desired concurrency never goes below min, and up to min tasks start even while the system
  // is overloaded (Crawlee's minConcurrency), so a machine kept busy by others slows the pool down
  // but never stalls it ...
  std::size_t min = 1;
  // ... nor above max ...
  std::size_t max = 200;
  // ... and starts here.
  std::size_t desired = 10;
  // At most this many task starts in any 60-second window (a sliding window: a burst may start
  // at once, then the next start waits for the oldest to leave the window). Infinity: no limit.
  double max_tasks_per_minute = std::numeric_limits<double>::infinity();

  // validate: throws std::invalid_argument, saying what to change, unless
  // 1 <= min <= desired <= max and max_tasks_per_minute > 0.
  void validate() const;
};

struct autoscaled_options {
  concurrency_settings concurrency;
  // One unit of work; runs as a job of the pool (so this_job::sleep_for, fiberpool I/O and the
  // other cancellation points work in it, and abort() can kill it there). An exception it throws
  // ends run(); a task killed by someone else (a hard time limit of the pool_options) is logged at
  // warning level and the run goes on. Required.
  std::function<void()> run_task;
  // Is there work for one more task? Asked on run()'s thread whenever there is room for one more:
  // fewer tasks run than desired, and the current status is not overloaded or fewer than min run.
  // A hint: run_task may find the work gone and just return. Required.
  std::function<bool()> is_task_ready;
  // Is all the work done? Asked on run()'s thread only when no task runs and is_task_ready() just
  // said no; run() returns when it says yes. Required.
  std::function<bool()> is_finished;
  // The probe; null: a default_system_status on the pool's runtime, made with status_options.
  std::shared_ptr<system_status> status;
  system_status_options status_options;
  // The desired concurrency is reconsidered this often, from status->historical().
  clock::duration autoscale_interval = std::chrono::seconds(10);
  // When idle and busy: desired += ceil(scale_up_step_ratio * desired), up to max.
  double scale_up_step_ratio = 0.05;
  // When overloaded: desired -= ceil(scale_down_step_ratio * desired), down to min.
  double scale_down_step_ratio = 0.05;
  // "Busy": current concurrency >= floor(desired_concurrency_ratio * desired).
  double desired_concurrency_ratio = 0.9;
  // Without a task ending or a call that changes the pool, is_task_ready() and the current status
  // are asked again this often (work can appear without the pool knowing; an overload passes).
  clock::duration maybe_run_interval = std::chrono::milliseconds(500);
  // A status line is logged at debug level this often while run() runs.
  clock::duration logging_interval = std::chrono::seconds(60);
};

// The pool: tasks are jobs of a task_pool it owns. run() drives it; every other member is
// callable from any thread and from any fiber, including a task.
class autoscaled_pool {
 public:
  // autoscaled_pool: makes and starts the task_pool (pool.limit is ignored: the pool's limit is
  // concurrency.max, and the desired concurrency decides how many tasks run) and, when
  // opts.status is null, the default status.
  // Throws std::invalid_argument, saying what to change, for a missing function, invalid
  // concurrency settings, a zero interval or a ratio out of range.
  explicit autoscaled_pool(autoscaled_options opts, pool_options pool = {});
  // ~autoscaled_pool: terminates tasks still running and waits for them. Must not run while run()
  // does, nor be called from a task.
  ~autoscaled_pool();
  autoscaled_pool(const autoscaled_pool&) = delete;
  autoscaled_pool& operator=(const autoscaled_pool&) = delete;

  // run: starts tasks while there is room, work and no overload (or fewer than min run) and the
  // rate limit allows, scales the desired concurrency every autoscale_interval, and waits until
  // is_finished() says yes. The predicates and the status
  // probe are called on the calling thread (or fiber). The first exception of a task, a predicate
  // or the status probe ends it: the other tasks are terminated, and once they have unwound it is
  // rethrown. Logs a status line at debug level every logging_interval and a summary at info
  // level when it returns. Throws error if run() is already running; a cancellation point.
  void run();
  // abort: makes run() terminate the running tasks and return, without an exception, once they
  // have unwound (a task that never reaches a cancellation point delays it). Called while run()
  // is not running, it makes the next run() return at once.
  void abort();
  // pause: no new task starts (and is_task_ready() is not asked); running tasks go on.
  void pause();
  // resume: starting goes on at once.
  void resume();
  bool paused() const;

  // current_concurrency: tasks started and not yet ended.
  std::size_t current_concurrency() const;
  // desired_concurrency: how many tasks the pool wants running now, within [min, max].
  std::size_t desired_concurrency() const;
  // concurrency: the settings in force, with `desired` the current desired concurrency.
  concurrency_settings concurrency() const;
  // set_concurrency: validates s (std::invalid_argument, nothing changed) and applies it at once:
  // the desired concurrency becomes s.desired and tasks start up to it. Running tasks above it
  // are not killed; no new one starts until they are below it.
  void set_concurrency(concurrency_settings s);

 private:
  std::unique_ptr<detail::autoscale_core> core_;
};

}  // namespace fiberpool
