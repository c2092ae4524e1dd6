// task_pool: eventlet's GreenPool with Celery's TaskPool lifecycle, on Boost.Fiber.
#pragma once

#include <csignal>
#include <cstddef>
#include <functional>
#include <memory>
#include <stdexcept>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include <fiberpool/errors.hpp>
#include <fiberpool/event_loop.hpp>
#include <fiberpool/job.hpp>
#include <fiberpool/options.hpp>
#include <fiberpool/runtime.hpp>
#include <fiberpool/signals.hpp>
#include <fiberpool/timer.hpp>
#include <fiberpool/types.hpp>

namespace fiberpool {

namespace detail { class pool_core; }

// A pool of jobs, each a fiber, at most limit() running at once; the rest wait in a FIFO queue.
// Every job gets a pseudo-pid that terminate_job() can kill. Every member is callable from any
// thread and from any fiber, including a job of this pool, unless it says otherwise.
class task_pool {
 public:
  static constexpr bool is_green = true;              // jobs are fibers
  static constexpr bool signal_safe = false;          // do not stop it from a POSIX signal handler
  static constexpr bool task_join_will_block = false;
  static constexpr bool uses_semaphore = true;        // admission is bounded by limit()

  // task_pool: a pool with its own runtime of options.threads threads (started at once, idle
  // until jobs run). Throws std::invalid_argument for a stack_size below min_stack_size.
  explicit task_pool(pool_options opts = {});
  // task_pool: a pool on a shared runtime, which must outlive it; options.threads is ignored.
  task_pool(fiberpool::runtime& rt, pool_options opts = {});
  // ~task_pool: if not stopped, terminate() and wait: jobs blocked in cancellation points unwind at
  // once, and no fiber of this pool outlives it. Must not be called from a job of this pool.
  ~task_pool();
  task_pool(const task_pool&) = delete;
  task_pool& operator=(const task_pool&) = delete;

  // --- lifecycle (Celery BasePool) ---
  // start: created -> running; queued jobs start; emits pool_started. Throws error otherwise.
  void start();
  // close: stops accepting jobs (apply() throws pool_closed); queued and running jobs go on.
  void close();
  // stop: close(); emit pool_preshutdown; wait for every queued and running job to end; emit
  // pool_postshutdown; -> stopped. On a pool never started, queued jobs end cancelled.
  // From a job of this pool: throws deadlock_error. A stopped pool: no-op.
  void stop();
  // stop_for: as stop(), but jobs still queued or running after `grace` are cancelled or
  // terminated; true if everything ended within grace.
  bool stop_for(clock::duration grace);
  // terminate: close; emit pool_preshutdown; cancel queued jobs, kill running ones and wait for
  // them to unwind; emit pool_postshutdown; -> stopped. From a job of this pool: deadlock_error.
  void terminate();
  // restart: replaces the scheduler threads (the shared runtime's, for a pool on one); no job is
  // lost; returns once a no-op job has run on the new threads. Throws error unless running.
  void restart();
  // did_start_ok: running, and every scheduler thread is up.
  bool did_start_ok() const;
  pool_state state() const;

  // --- submission (Celery on_apply / eventlet spawn) ---
  // apply: emits pool_apply, queues the job (FIFO) and starts it as soon as running() < limit().
  //  - before start() the job is queued and runs after start(); after close() throws pool_closed;
  //  - with waiting() >= max_queued: overflow::block waits for room (a cancellation point),
  //    overflow::reject throws pool_full;
  //  - from a job of this pool while running() >= limit(), the job runs inline on the caller's
  //    fiber before apply() returns (eventlet's rule), so recursion into a full pool cannot deadlock;
  //  - a null function pointer or empty std::function throws std::invalid_argument.
  template <class F, class... Args>
    requires(!std::is_same_v<std::remove_cvref_t<F>, job_options>)
  auto apply(F&& f, Args&&... args) -> job<std::invoke_result_t<F, Args...>> {
    return apply(job_options{}, std::forward<F>(f), std::forward<Args>(args)...);
  }
  template <class F, class... Args>
  auto apply(job_options opts, F&& f, Args&&... args) -> job<std::invoke_result_t<F, Args...>> {
    using result = std::invoke_result_t<F, Args...>;
    if (detail::is_null_callable(f))
      throw std::invalid_argument("fiberpool: apply() was given a null callable; pass a function, "
                                  "a lambda or a non-empty std::function");
    auto target = [fn = std::forward<F>(f), ... a = std::forward<Args>(args)]() mutable -> result {
      return std::invoke(std::move(fn), std::move(a)...);
    };
    auto* rec = new detail::job_impl<result, decltype(target)>(std::move(target));
    detail::ref_ptr<detail::result_record<result>> handle(rec);
    handle->add_ref();   // the pool's reference, adopted by submit()
    submit(*rec, std::move(opts));
    return job<result>(std::move(handle));
  }

  // --- resize (eventlet grow / shrink) ---
  // grow: limit += n; queued jobs start at once, up to the new limit. Emits pool_resized.
  void grow(std::size_t n = 1);
  // shrink: limit -= min(n, limit); never kills a running job: starts resume only when
  // running() < limit(). Emits pool_resized.
  void shrink(std::size_t n = 1);
  void resize(std::size_t new_limit);
  std::size_t limit() const;

  // --- killing (eventlet terminate_job) ---
  // terminate_job: a queued job is removed, never runs and ends cancelled; a running job gets
  // job_terminated(signal) at its next cancellation point, at once if it is suspended in one, and
  // ends terminated. false (doing nothing) for an unknown or already ended id.
  bool terminate_job(job_id id, int signal = SIGTERM);

  // --- introspection ---
  std::size_t num_processes() const;  // scheduler threads
  std::size_t running() const;        // admitted (holding a slot, its fiber possibly not yet
                                      // started) and not ended; inline children included
  std::size_t waiting() const;        // queued
  std::size_t free() const;           // limit() - running(), never below 0
  pool_info info() const;
  std::vector<job_info> jobs() const; // live jobs, oldest first
  signal_bus& signals();
  fiberpool::timer& timer();
  const std::string& name() const;
  fiberpool::runtime& runtime();

  // --- host event loops (Celery's register_with_event_loop) ---
  // register_with_event_loop: the pool gives up its own threads and runs on the calling thread,
  // driven by `loop` (which must outlive the pool's stop): the loop watches the runtime's poll_fd()
  // and calls run_ready() when it is readable or the next timer is due. Call it on the loop's
  // thread, before start(), on a pool that owns its runtime; throws error otherwise. stop(),
  // terminate() and the destructor unregister from the loop; called on the loop's thread they
  // drive the pool's jobs themselves until those end.
  void register_with_event_loop(event_loop& loop);

  // waitall: waits until nothing is queued or running. From a job of this pool: deadlock_error.
  // Cancellation point.
  void waitall();
  // waitall_for: as waitall(), false if jobs remain after d.
  bool waitall_for(clock::duration d);

 private:
  // submit: admission for a record apply() built; adopts one reference. Throws on refusal.
  void submit(detail::job_record& rec, job_options&& opts);
  std::unique_ptr<detail::pool_core> core_;
};

}  // namespace fiberpool
