// task_pool: eventlet's GreenPool with Celery's TaskPool lifecycle, on Boost.Fiber.
#pragma once

#include <csignal>
#include <cstddef>
#include <functional>
#include <initializer_list>
#include <memory>
#include <ranges>
#include <span>
#include <stdexcept>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

#include <fiberpool/detail/map_runner.hpp>
#include <fiberpool/errors.hpp>
#include <fiberpool/event_loop.hpp>
#include <fiberpool/job.hpp>
#include <fiberpool/metrics.hpp>
#include <fiberpool/options.hpp>
#include <fiberpool/result_stream.hpp>
#include <fiberpool/runtime.hpp>
#include <fiberpool/signals.hpp>
#include <fiberpool/timer.hpp>
#include <fiberpool/types.hpp>

namespace fiberpool {

namespace detail {
class pool_core;
// core_of: the pool layer's own way in (lib/pool/serve.cpp); not for users.
pool_core& core_of(task_pool& pool) noexcept;
}  // namespace detail

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
  // until jobs run). Throws std::invalid_argument for a stack_size outside [min_stack_size, max_stack_size].
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
  // stop: close(); emit pool_preshutdown; wait for every queued and running job to end, and for
  // every running map to apply its whole input (it no longer waits for its reader; an endless map
  // never ends: cancel_group() it first, or use stop_for()); emit pool_postshutdown; -> stopped.
  // On a pool never started, queued jobs end cancelled and maps stop.
  // From a job of this pool: throws deadlock_error. A stopped pool: no-op.
  void stop();
  // stop_for: as stop(), but after `grace` maps still running are stopped and jobs still queued
  // or running are cancelled or terminated; true if everything ended within grace.
  bool stop_for(clock::duration grace);
  // terminate: close; emit pool_preshutdown; stop running maps, cancel queued jobs, kill running
  // ones and wait for them to unwind; emit pool_postshutdown; -> stopped. From a job of this pool:
  // deadlock_error.
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
  // stats: counters since the pool was made and the queue-wait / run-time histograms (metrics.hpp).
  pool_stats stats() const;
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

  // waitall: waits until nothing is queued or running. A map waiting for its reader has nothing
  // queued or running: gather_and_close() and stop() wait for maps. From a job of this pool:
  // deadlock_error. Cancellation point.
  void waitall();
  // waitall_for: as waitall(), false if jobs remain after d.
  bool waitall_for(clock::duration d);

  // --- task groups, cancelling, locking (asyncio-taskpool) ---
  // A job joins the group job_options::group names (made on first use); a map's jobs join the
  // map's own group. A group is known until cancel_group(), cancel_all(), or flush() once it has
  // no live job and no running map.
  // group_ids: the ids of the group's live (queued or running) jobs, ascending. Throws
  // group_not_found for a group the pool does not know.
  std::vector<job_id> group_ids(std::string_view group) const;
  // has_group: the pool knows the group (group_ids() would not throw).
  bool has_group(std::string_view group) const;
  // cancel: checks every id first, and throws without cancelling anything if one is not
  // cancellable: invalid_job_id (never a job of this pool, forgotten by flush(), or a map's item
  // that has ended: maps do not make the pool remember their items), already_ended
  // (it ended), already_cancelled (cancelled or killed before, by cancel(), terminate_job() or
  // cancel_group()). Then cancels all of them as terminate_job(id, SIGTERM) does: queued ones
  // end cancelled, running ones are killed. Does not wait for them to end.
  void cancel(std::span<const job_id> ids);
  void cancel(std::initializer_list<job_id> ids) { cancel(std::span<const job_id>(ids.begin(), ids.size())); }
  // cancel_group: stops the group's map feeders first (no item is pulled or applied after), then
  // cancels its jobs (queued: cancelled; running: killed), and forgets the group: its name is free
  // again. Does not wait. Throws group_not_found.
  void cancel_group(std::string_view group);
  // cancel_all: cancel_group() for every group, then every other queued job is cancelled and every
  // running one killed. The pool stays open. Does not wait.
  void cancel_all();
  // lock: apply() and map() throw pool_locked until unlock(); queued jobs, running jobs and
  // running maps go on (a map's feeder still applies its items). Idempotent.
  void lock();
  void unlock();
  bool is_locked() const;
  // is_full: running() >= limit(): the next job would queue (or run inline, from a job).
  bool is_full() const;
  // flush: forgets ended jobs, so that a long-lived pool's memory does not grow with its history:
  // their ids become unknown (cancel() throws invalid_job_id for them), and groups with no live job
  // and no running map are forgotten. Until then each ended job applied by apply() costs 8 bytes
  // (info().remembered); a map's items are never remembered.
  void flush();
  // gather_and_close: lock(); wait for every queued and running job and every map to end (maps no
  // longer wait for their readers: results not yet read are kept in their streams; an endless map
  // never ends, cancel_group() it first); close().
  // Never throws a job's error (those stay with the job handles and streams) and never leaves
  // the pool open: if the wait itself is interrupted (the calling job is killed), the pool is
  // closed before the kill propagates. From a job of this pool: deadlock_error; on a pool never
  // started: error (its jobs could never end). Cancellation point.
  void gather_and_close();

  // --- maps (eventlet imap, aiomultiprocess map, asyncio-taskpool map) ---
  // map: applies f to every element of `in`, each call a job of this pool, and returns the
  // results as a result_stream, in input order. The input is pulled lazily, one element each time
  // the window has room: at most num_concurrent items are in flight (pulled, and their result not
  // yet read from the stream), so a map over an endless or huge generated range runs in constant
  // memory and num_concurrent also bounds the map's jobs running at once. The jobs run across all
  // of the pool's scheduler threads (runtime_options::on_thread_start is the per-thread
  // initializer, for a pool on a shared runtime). An item's exception is that item's outcome
  // only; the map goes on. Each job gets `opts` (name, time limits, callbacks); its group is the
  // map's own: opts.group if given, which must be new (group_exists otherwise), else "map-<n>".
  // An lvalue range is read in place and must outlive the map; an rvalue one is moved in.
  // f is called from many jobs at once, so it must be callable as const. A map admitted before
  // lock() or close() goes on through them; stop() and gather_and_close() wait for it.
  // Throws std::invalid_argument for num_concurrent 0 or a null f, pool_closed on a closed or
  // stopped pool, pool_locked on a locked one.
  template <class F, class Range>
    requires std::ranges::input_range<Range> && std::ranges::viewable_range<Range>
  auto map(F&& f, Range&& in, std::size_t num_concurrent = 1, job_options opts = {}) {
    return start_map(detail::call_item<std::decay_t<F>>{std::forward<F>(f)}, std::forward<Range>(in),
                     num_concurrent, std::move(opts), true);
  }
  // map_unordered: as map(), results in the order the jobs end.
  template <class F, class Range>
    requires std::ranges::input_range<Range> && std::ranges::viewable_range<Range>
  auto map_unordered(F&& f, Range&& in, std::size_t num_concurrent = 1, job_options opts = {}) {
    return start_map(detail::call_item<std::decay_t<F>>{std::forward<F>(f)}, std::forward<Range>(in),
                     num_concurrent, std::move(opts), false);
  }
  // starmap: as map(), each element a tuple (std::tuple, std::pair, std::array) that f is applied
  // to with std::apply.
  template <class F, class Range>
    requires std::ranges::input_range<Range> && std::ranges::viewable_range<Range>
  auto starmap(F&& f, Range&& in, std::size_t num_concurrent = 1, job_options opts = {}) {
    return start_map(detail::call_tuple<std::decay_t<F>>{std::forward<F>(f)}, std::forward<Range>(in),
                     num_concurrent, std::move(opts), true);
  }

 private:
  // submit: admission for a record apply() built; adopts one reference. Throws on refusal.
  void submit(detail::job_record& rec, job_options&& opts);
  // launch_map: admits a map's feeder and starts it; owns it once this returns. Returns the
  // map's group name.
  std::string launch_map(detail::map_feeder& feeder, std::string group);

  template <class Call, class Range>
  auto start_map(Call call, Range&& in, std::size_t num_concurrent, job_options opts, bool ordered) {
    using view = std::views::all_t<Range>;
    using item = std::remove_cvref_t<std::ranges::range_reference_t<view>>;
    static_assert(std::is_invocable_v<const Call&, item&&>,
                  "fiberpool: map()/starmap() cannot call f with an element of the range (as const: f runs in "
                  "many jobs at once, so a mutable lambda will not do; starmap() needs tuple-like elements)");
    using result = detail::map_result_t<Call, item>;
    if (num_concurrent == 0)
      throw std::invalid_argument("fiberpool: map() with num_concurrent 0 could never run an item; pass at "
                                  "least 1 (the most items of this map in flight at once)");
    if (detail::is_null_callable(call.fn))
      throw std::invalid_argument("fiberpool: map() was given a null callable; pass a function, a lambda or a "
                                  "non-empty std::function");
    auto state = std::make_shared<detail::map_state<result>>(ordered, num_concurrent);
    std::string group = std::move(opts.group);
    auto feeder = std::make_unique<detail::map_runner<result, view, Call>>(
        state, std::views::all(std::forward<Range>(in)), std::move(call), std::move(opts));
    group = launch_map(*feeder, std::move(group));
    feeder.release();  // the pool's now
    return result_stream<result>(std::move(state), std::move(group));
  }
  friend detail::pool_core& detail::core_of(task_pool& pool) noexcept;
  std::unique_ptr<detail::pool_core> core_;
};

}  // namespace fiberpool
