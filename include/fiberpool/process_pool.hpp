// process_pool: Celery prefork's and aiomultiprocess's worker processes, each a fiberpool runtime.
// A crash, a leak or a CPU loop in one job cannot take the parent down, and can always be killed.
#pragma once

#include <csignal>
#include <cstddef>
#include <functional>
#include <memory>
#include <optional>
#include <ranges>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <fiberpool/errors.hpp>
#include <fiberpool/event_loop.hpp>
#include <fiberpool/job.hpp>
#include <fiberpool/options.hpp>
#include <fiberpool/result_stream.hpp>
#include <fiberpool/signals.hpp>
#include <fiberpool/task_pool.hpp>
#include <fiberpool/types.hpp>

namespace spdlog { class logger; }

namespace fiberpool {

// A task a worker process can run, by name: it gets the payload bytes and returns the result
// bytes; an exception it throws fails the job in the parent as remote_error.
using task_fn = std::function<std::string(std::string_view payload)>;

// register_task: process-wide. Register the same tasks in every process of the program (at the
// top of main, or at static initialisation) before any process_pool starts: a worker is this same
// program started again, and it finds the task by name. std::invalid_argument on a duplicate or
// empty name, or an empty function.
void register_task(std::string name, task_fn fn);
bool has_task(std::string_view name);

// run_if_worker: call first in main, after registering tasks. In a worker process started by a
// process_pool it serves jobs until the pool lets it go and returns the worker's exit code; in any
// other process it returns nullopt at once (and remembers argv, to start workers with it).
//
// Workers are started by re-executing the program (/proc/self/exe, same argv, posix_spawn) with
// an environment variable naming the socket to serve, never by a bare fork(): the parent runs
// fiberpool's threads and the user's, and a fork() of a threaded process can deadlock in the child
// on a lock another thread held (malloc's, the logger's). A process_pool made in a worker (main
// did not call run_if_worker first) throws instead of starting workers of its own.
std::optional<int> run_if_worker(int argc, char** argv);

class worker_lost : public error {        // the worker running the job died (crash, kill, OOM)
 public:
  worker_lost(const std::string& what, int exit_code, int term_signal)
      : error(what), exit_code_(exit_code), term_signal_(term_signal) {}
  int exit_code() const noexcept { return exit_code_; }      // -1 if killed by a signal
  int term_signal() const noexcept { return term_signal_; }  // 0 if it exited

 private:
  int exit_code_;
  int term_signal_;
};

class remote_error : public error {       // the task threw in the worker: what() carries the
 public:                                  // exception's type name and message
  remote_error(std::string type, const std::string& message)
      : error(type + ": " + message), type_(std::move(type)) {}
  const std::string& type() const noexcept { return type_; }

 private:
  std::string type_;
};

struct process_pool_options {
  std::string name = "process_pool";
  std::size_t processes = 0;                // worker processes; 0 = hardware_concurrency()
  std::size_t jobs_per_process = 1;         // jobs at once inside one worker, each on a fiber there
                                            // (aiomultiprocess childconcurrency)
  std::size_t max_tasks_per_child = 0;      // 0: unlimited; a worker that was given this many is
                                            // replaced once they end
  std::size_t max_memory_per_child = 0;     // RSS bytes; 0: unlimited; checked after each job, the
                                            // worker is replaced after finishing its current jobs
  std::size_t max_queued = SIZE_MAX;
  overflow on_overflow = overflow::block;
  std::optional<clock::duration> soft_time_limit;  // soft_time_limit_exceeded inside the task
  std::optional<clock::duration> hard_time_limit;  // the job ends terminated (time_limit_exceeded)
                                            // even if the task is stuck in a CPU loop: its worker
                                            // is killed and replaced if the job does not unwind
  bool requeue_on_worker_lost = false;      // a job whose worker died runs once more elsewhere
                                            // (Celery's acks_late + reject_on_worker_lost); at most once
  std::size_t max_payload = 64 * 1024 * 1024;  // bytes, both directions (at most 3 GiB); a larger
                                            // payload: std::invalid_argument at apply(); a larger
                                            // result: the job fails (remote_error)
  // kill_grace: how long a killed job (terminate_job, hard limit) has to unwind in its worker
  // before the parent kills the worker process (SIGKILL) and replaces it.
  clock::duration kill_grace = std::chrono::seconds(1);
  // start_timeout: how long a new worker has to say hello before it is killed (start() throws).
  clock::duration start_timeout = std::chrono::seconds(10);
  std::shared_ptr<spdlog::logger> logger;
};

namespace detail { class process_core; }

// Every accepted job ends exactly once: succeeded, failed (remote_error or worker_lost),
// terminated or cancelled. A worker that dies is replaced and the pool keeps its size. Each job is
// a job of an internal task_pool of the parent (its signals, jobs() and limits are that pool's),
// whose fiber hands the payload to a worker with a free slot and waits for the answer.
class process_pool {
 public:
  explicit process_pool(process_pool_options opts = {});
  ~process_pool();                          // terminate() if not stopped; no worker outlives it
  process_pool(const process_pool&) = delete;
  process_pool& operator=(const process_pool&) = delete;

  // start: starts the workers and waits until each said hello (start_timeout); throws error if
  // one did not (the message says what to check), leaving the pool stopped.
  void start();
  void close();                             // apply() throws pool_closed; jobs go on
  void stop();                              // close, wait for every job, let the workers exit
  bool stop_for(clock::duration grace);     // as stop(); after grace jobs are killed, workers too
  void terminate();                         // cancel queued jobs, kill running ones and every worker
  void restart();                           // replace every worker; no job lost: the old ones
                                            // finish their jobs and exit; returns once the new
                                            // ones said hello
  bool did_start_ok() const;                // running, and every worker process is up
  pool_state state() const;

  // apply: runs the registered task `task` on `payload` in a worker. Unknown task name, or a
  // payload above max_payload: std::invalid_argument at once. opts as task_pool's: name, group,
  // callbacks; soft_time_limit goes to the worker, hard_time_limit is enforced by the parent.
  job<std::string> apply(std::string_view task, std::string payload, job_options opts = {});

  // map / map_unordered: task over payloads (pulled lazily, each converted to std::string), at most
  // num_concurrent in flight; results in input order (map) or as they end (map_unordered).
  template <class Range>
    requires std::ranges::input_range<Range> && std::ranges::viewable_range<Range>
  result_stream<std::string> map(std::string_view task, Range&& payloads, std::size_t num_concurrent = 1,
                                 job_options opts = {}) {
    auto call = remote_call(task, opts);  // first: it moves the soft limit out of opts
    return parent_pool().map(std::move(call), std::forward<Range>(payloads), num_concurrent, std::move(opts));
  }
  template <class Range>
    requires std::ranges::input_range<Range> && std::ranges::viewable_range<Range>
  result_stream<std::string> map_unordered(std::string_view task, Range&& payloads, std::size_t num_concurrent = 1,
                                           job_options opts = {}) {
    auto call = remote_call(task, opts);  // first: it moves the soft limit out of opts
    return parent_pool().map_unordered(std::move(call), std::forward<Range>(payloads), num_concurrent,
                                       std::move(opts));
  }

  // terminate_job: a queued job is cancelled; a running one is killed in its worker at its next
  // cancellation point, and its worker is killed and replaced if it does not unwind in kill_grace.
  // The job ends terminated at once either way. false for an unknown or ended id.
  bool terminate_job(job_id id, int signal = SIGTERM);

  void grow(std::size_t n = 1);             // n more worker processes
  void shrink(std::size_t n = 1);           // n fewer: the least busy finish their jobs and exit
  void resize(std::size_t processes);
  std::size_t num_processes() const;        // worker processes the pool keeps
  std::size_t running() const;
  std::size_t waiting() const;
  pool_info info() const;                   // + workers_replaced, workers_lost
  std::vector<job_info> jobs() const;       // + the worker pid of a running job
  pool_stats stats() const;                 // the internal pool's counters and histograms, with info()
  std::vector<int> worker_pids() const;
  signal_bus& signals();                    // the internal pool's, plus worker_started(pid) and
                                            // worker_exited(pid, wait status; -1 if SIGCHLD
                                            // is ignored and the kernel reaped it)
  const std::string& name() const;

  // register_with_event_loop (Celery prefork's): the parent's side (the fibers that feed, read,
  // reap and replace the workers) runs on the calling thread, driven by `loop`, instead of a
  // thread of its own. Call it on the loop's thread, before start(); start(), stop() and the
  // destructor called on that thread drive the loop's runtime while they wait for workers.
  void register_with_event_loop(event_loop& loop);

 private:
  // remote_call: the function each job of a map runs (checks the task name at once).
  std::function<std::string(const std::string&)> remote_call(std::string_view task, job_options& opts);
  task_pool& parent_pool();
  std::unique_ptr<detail::process_core> core_;
};

}  // namespace fiberpool
