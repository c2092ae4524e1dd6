// pool_core: the state of one task_pool behind its public facade.
#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include <fiberpool/detail/job_record.hpp>
#include <fiberpool/detail/map_feeder.hpp>
#include <fiberpool/detail/wait.hpp>
#include <fiberpool/options.hpp>
#include <fiberpool/event_loop.hpp>
#include <fiberpool/metrics.hpp>
#include <fiberpool/runtime.hpp>
#include <fiberpool/signals.hpp>
#include <fiberpool/sync.hpp>
#include <fiberpool/timer.hpp>
#include <fiberpool/types.hpp>

#include "base/live_registry.hpp"
#include "base/log_histogram.hpp"
#include "pool/ended_log.hpp"
#include "pool/group_state.hpp"
#include "pool/live_table.hpp"
#include "pool/stall_report.hpp"

namespace spdlog { class logger; }

namespace fiberpool {
class task_pool;
}

namespace fiberpool::detail {

class runtime_core;

// Which admission slot a job holds while it runs; decides what its end gives back.
enum class slot_kind { none, pooled, borrowed };

// Lets timer actions that fire on a hub reach the pool only while it exists.
struct pool_token {
  spin_mutex mu;
  pool_core* pool = nullptr;
};

// pool_facade: the operations the control socket and prometheus_text() ask of a pool, answered by
// the object a pool is the inside of when there is one: a process_pool, whose size is processes
// (its inner pool's limit is processes x jobs_per_process) and whose stats count workers. Set by
// that owner (a layer above) for as long as it lives.
class pool_facade {
 public:
  virtual void grow(std::size_t n) = 0;
  virtual void shrink(std::size_t n) = 0;
  virtual void resize(std::size_t n) = 0;
  virtual std::size_t size() const = 0;  // what grow/shrink/resize count: processes
  virtual pool_stats stats() const = 0;
  virtual std::vector<job_info> jobs() const = 0;  // with the worker pid of each running job

 protected:
  ~pool_facade() = default;
};

// One mutex (mu_) guards admission, the live-job table and the counters; no code holding it ever
// waits or calls out (callbacks and signals run after it is released).
class pool_core {
 public:
  pool_core(task_pool& self, pool_options opts, fiberpool::runtime* shared);
  ~pool_core();

  // admission.cpp
  // submit: apply()'s admission; `from` is the map feeder applying an item's job, if any.
  void submit(job_record& rec, job_options&& opts, map_feeder* from = nullptr);
  void grow(std::size_t n);
  void shrink(std::size_t n);
  void resize(std::size_t new_limit);
  // wait_for_free_slot: waits until the pool is started and a job applied now would start at once
  // (a free slot and nothing queued). False at the deadline, or once the pool is closed or
  // stopped. A cancellation point of the calling fiber (a job, a map feeder, a server's acceptor).
  bool wait_for_free_slot(std::optional<clock::time_point> deadline);

  // job_runner.cpp
  // run_job: on the job's carrier fiber. Returns the queued job its end let start, for the same
  // carrier to run next (the rest of them are launched), or null.
  job_record* run_job(job_record& rec) noexcept;
  void discard_job(job_record& rec) noexcept;   // the runtime could not give it a fiber

  // lifecycle.cpp
  void start();
  void register_with_event_loop(event_loop& loop);
  void close();
  void stop();
  bool stop_for(clock::duration grace);
  void terminate();
  void restart();
  bool terminate_job(job_id id, int signal);
  void waitall();
  // waitall_until: until nothing is queued or running, and with `with_maps` no map is feeding.
  bool waitall_until(std::optional<clock::time_point> deadline, bool with_maps = false);

  // groups.cpp
  std::vector<job_id> group_ids(std::string_view group) const;
  bool has_group(std::string_view group) const;
  void cancel(std::span<const job_id> ids);
  void cancel_group(std::string_view group);
  void cancel_all();
  void flush();

  // maps.cpp
  void lock();
  void unlock();
  bool is_locked() const;
  bool is_full() const;
  void gather_and_close();
  // start_map: admits a map: registers its feeder with a new group and starts the feeder's fiber.
  // Returns the group's name. The pool owns the feeder from then on.
  std::string start_map(map_feeder& f, std::string group);
  void run_feeder(map_feeder& f) noexcept;      // on the feeder's own fiber
  void discard_feeder(map_feeder& f) noexcept;  // the runtime could not give it a fiber

  // hang_warnings.cpp
  // never_started: start() has not run, so nothing queued can ever run until someone calls it.
  bool never_started() const noexcept { return !started_.load(std::memory_order_acquire); }
  // warn_never_started: a wait (`what`) has blocked for a while on a pool never started: logs a
  // warning that says to call start(), once per pool. No behaviour changes: another thread may
  // still start the pool.
  void warn_never_started(const char* what, job_id id = 0) noexcept;
  // never_started_nag: how long a wait on a never-started pool blocks before it warns.
  static constexpr clock::duration never_started_nag = std::chrono::seconds(1);
  // report_swallowed_kill: the job's kill is raised again because its code caught the previous
  // one (catch (...)) and went on; logged once per job.
  void report_swallowed_kill(const job_record& rec) noexcept;

  // stall_report.cpp
  // stalled_jobs: the running jobs whose fibers the `stalled` threads run, held past stall_warning.
  std::vector<stalled_job> stalled_jobs(std::span<const stalled_thread> stalled, clock::time_point now);

  // pool_core.cpp
  pool_state state() const;
  bool did_start_ok() const;
  std::size_t limit() const;
  std::size_t running() const;
  std::size_t waiting() const;
  std::size_t free_slots() const;
  pool_info info() const;
  std::vector<job_info> jobs() const;
  pool_stats stats() const;  // pool_stats.cpp
  // facade: the owner's view of this pool, if it is the inside of a process_pool; null otherwise.
  // Set before the pool is shared, cleared before the owner goes.
  // Under the registry's lock, which views hold while they use a pool: clearing it waits for them.
  pool_facade* facade() const noexcept { return facade_.load(std::memory_order_acquire); }
  void set_facade(pool_facade* f) {
    base::live_registry<pool_core>::instance().with_lock([&] { facade_.store(f, std::memory_order_release); });
  }
  // for_each_live: calls f for every live pool of the process (see base::live_registry).
  template <class F>
  static void for_each_live(F&& f) {
    base::live_registry<pool_core>::instance().for_each(std::forward<F>(f));
  }
  std::size_t num_processes() const;

  task_pool& self;
  const pool_options opts;
  const std::shared_ptr<spdlog::logger> log;
  signal_bus signals;
  fiberpool::runtime& runtime() noexcept { return *rt_; }
  fiberpool::timer& timer() noexcept { return *timer_; }

 private:
  // admission.cpp
  std::unique_ptr<job_extras> make_extras(job_options&& o) const;
  void enqueue(job_record& rec) noexcept;
  void unlink_queued(job_record& rec) noexcept;  // off the FIFO only: a cancelled job stays
                                                // counted in waiting_ until its end is recorded
  void leave_queue(job_record& rec) noexcept;   // off the FIFO and the count
  // take_startable (mu_ held) moves queued jobs into free slots and returns them as a chain linked
  // through next_queued, free once they leave the queue, so a job end allocates nothing under the
  // lock; launch_chain starts them after the lock is released.
  job_record* take_startable() noexcept;
  void launch_chain(job_record* chain);
  void launch(job_record& rec);
  void run_inline(job_record& rec) noexcept;
  void withdraw(job_record& rec) noexcept;  // undoes the admission of a job that could not start
  // offer_free_slots (mu_ held): after a slot frees or the limit grows, wakes one blocked
  // submitter per slot nobody queued takes (with max_queued = 0 nothing is ever queued, so a job's
  // end is the only news of room) and every wait_for_free_slot().
  void offer_free_slots() noexcept;
  bool starts_now() const noexcept;  // mu_ held: a job applied now would start at once
  void forget_live(job_record& rec) noexcept;  // mu_ held: off the live table and out of its group
  template <class F>
  void change_limit(F&& next_limit);

  // job_runner.cpp
  // execute: runs the job and records its end; returns the queued jobs that end let start.
  job_record* execute(job_record& rec, fiber_site& site, slot_kind slot) noexcept;
  // accept: runs on_accepted, logging what it throws. Out of line (see job_runner.cpp).
  [[gnu::noinline]] void accept(job_record& rec) noexcept;
  // complete: records a job's end. With `decide_kill`, a pending kill is also looked at here, in
  // the same critical section (execute() does so when no callback runs between the two).
  // record_end is complete() but for launching: it returns the queued jobs the end let start.
  void complete(job_record& rec, job_state end, slot_kind slot, bool decide_kill = false) noexcept;
  job_record* record_end(job_record& rec, job_state end, slot_kind slot, bool decide_kill = false) noexcept;
  bool ends_quietly(const job_record& rec) const noexcept;
  // record_run_time: into timings_, at the job's end; with lend_to_carrier, the end's counter
  // reading goes to the carrier as its next "now" too.
  void record_run_time(std::uint64_t started_tick, bool lend_to_carrier) noexcept;
  // report_failure: log_failures' line for a failed job (out of line: off the job-end path).
  [[gnu::noinline]] void report_failure(const job_record& rec) noexcept;
  void arm_limits(job_record& rec);
  void disarm_limits(job_record& rec) noexcept;
  void request_cancel(job_record& rec, cancel_kind kind, int signal) noexcept;  // mu_ held
  void on_limit(job_id id, cancel_kind kind) noexcept;

  // stall_report.cpp (mu_ held): a started job's thread, kill_pending and stalled_for, for jobs().
  void describe_activity(job_info& j, const job_record& rec, std::span<const thread_activity> threads,
                         clock::time_point now) const noexcept;

  // lifecycle.cpp
  enum class shutdown_turn { first, joined, resumed };
  shutdown_turn begin_shutdown(const char* what);
  // wait_for_unwinding: waits for every job to end after kills were sent, logging the ones left
  // with back-off (1 s, 2 s, ... 1 min).
  void wait_for_unwinding(const char* what);
  std::string jobs_left() const;  // "2 jobs: job 7 (name) on thread 0, ...", for the logs
  // unwind_margin: how long stop_for() waits, past its grace, for killed jobs to unwind.
  static constexpr clock::duration unwind_margin = std::chrono::milliseconds(100);
  void finish_shutdown();
  void kill_all(int signal);
  void cancel_all_queued();
  void let_maps_finish();            // stop(): maps run to their end without their consumers
  void stop_everything(int signal);  // feeders stopped, queued jobs cancelled, running ones killed
  // cancel_job (mu_ held): a queued job is taken off the queue and returned (the caller records
  // its end as cancelled once mu_ is released); a running one gets a kill request.
  job_record* cancel_job(job_record& rec, int signal) noexcept;
  bool idle() const noexcept { return running_ == 0 && borrowed_ == 0 && waiting_ == 0; }
  bool quiet() const noexcept { return idle() && feeders_ == 0; }
  void check_not_own_job(const char* what) const;

  // groups.cpp (mu_ held)
  group_state& group_named(std::string_view name);  // found or made
  void check_cancellable(job_id id) const;          // throws what cancel() throws for id
  // cancel_members: cancel_job() for every live member, each leaving the group.
  void cancel_members(group_state& g, std::vector<job_record*>& cancelled) noexcept;
  void forget_groups() noexcept;

  // maps.cpp (mu_ held)
  void stop_feeder(map_feeder& f) noexcept;
  void stop_feeders() noexcept;
  void unbound_feeders() noexcept;
  void retire_feeder(map_feeder& f) noexcept;  // mu_ not held

  std::unique_ptr<fiberpool::runtime> owned_rt_;
  fiberpool::runtime* rt_;
  runtime_core* rtc_;
  std::shared_ptr<pool_token> token_;
  std::unique_ptr<fiberpool::timer> timer_;

  // The lock has a cache line to itself: a thread waiting for it spins on a line that changes only
  // when the holder unlocks, instead of taking the line of the state it guards away from the
  // holder at every look.
  alignas(64) mutable spin_mutex mu_;
  alignas(64) pool_state state_ = pool_state::created;
  bool shutting_down_ = false;
  bool registered_ = false;   // register_with_event_loop() ran
  bool left_unfinished_ = false;  // stop_for() returned with jobs that would not unwind
  // start() ran: queued jobs can still run after close(). Written under mu_; atomic so that a
  // waiter can ask without taking mu_ (never_started()).
  std::atomic<bool> started_{false};
  std::atomic<bool> warned_never_started_{false};  // warn_never_started() logged once
  std::size_t limit_;
  std::size_t running_ = 0;   // jobs holding an admission slot
  std::size_t borrowed_ = 0;  // inline children running on their parent's fiber
  std::size_t waiting_ = 0;
  job_record* queue_head_ = nullptr;
  job_record* queue_tail_ = nullptr;
  live_table live_;                               // each entry holds the pool's reference
  std::array<std::size_t, 6> ended_{};            // indexed by job_state
  // pool_stats' counters, under mu_ like the rest of admission (no extra synchronisation per job).
  std::uint64_t applied_ = 0;
  std::uint64_t started_count_ = 0;
  std::uint64_t queued_starts_ = 0;  // of those, jobs that waited in the queue first
  std::uint64_t inline_runs_ = 0;
  std::uint64_t rejected_ = 0;
  wait_list room_waiters_;                        // overflow::block submitters
  wait_list slot_waiters_;                        // wait_for_free_slot()
  wait_list idle_waiters_;                        // waitall / stop / gather_and_close
  bool locked_ = false;                           // lock(): apply() and map() refused
  std::size_t feeders_ = 0;                       // map feeders not yet retired
  std::uint64_t next_map_ = 0;                    // names groups of maps given none: "map-<n>"
  ended_log ended_ids_;                           // until flush()
  // Task groups by name; a group lives until cancel_group(), cancel_all(), or flush() once idle.
  std::map<std::string, std::unique_ptr<group_state>, std::less<>> groups_;
  fiberpool::event stopped_;                      // set once state_ is stopped
  stall_report stalls_{*this};                    // listens to rtc_ (stall_warning > 0)
  // Queue wait and run time (pool_stats), recorded without mu_ by the thread a job starts or ends on.
  enum timing : std::size_t { queue_wait, run_time };
  base::sharded_histograms<2> timings_;
  std::atomic<pool_facade*> facade_{nullptr};
  // Last: the pool is visible to prometheus_text() and dump_jobs() once everything above is made.
  base::live_registry<pool_core>::membership listed_{this};
};

// current_job: the job running on the calling fiber, or null.
job_record* current_job() noexcept;

}  // namespace fiberpool::detail
