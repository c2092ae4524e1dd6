// runtime_core: a runtime's threads, their submission inboxes and timer queues, and restart.
#pragma once

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <thread>
#include <vector>

#include <fiberpool/detail/parker.hpp>
#include <fiberpool/detail/task.hpp>
#include <fiberpool/detail/timer_handle.hpp>
#include <fiberpool/metrics.hpp>
#include <fiberpool/runtime.hpp>

#include "base/live_registry.hpp"
#include "base/log_histogram.hpp"
#include "base/tick_clock.hpp"
#include "hub/io_poller.hpp"
#include "hub/offload.hpp"
#include "hub/timer_queue.hpp"
#include "runtime/stall_watch.hpp"
#include "scheduler/worker_set.hpp"

namespace spdlog { class logger; }

namespace fiberpool { class event_loop; }

namespace fiberpool::detail {

class loop_driver;
class carrier_queue;

// The calling thread's index in its runtime (runtime_core::thread_index()). initial-exec, and read
// inline: a job's start reads it, and a call into the library for it would cost more than the read.
[[gnu::tls_model("initial-exec")]] extern thread_local std::uint32_t tl_thread_index;
// When the calling thread's carrier started its current task (runtime_core::task_start_time()).
// Atomic (relaxed: a plain move on x86) only because ThreadSanitizer takes each fiber for a thread
// of its own and would call the carriers of one thread racing writers.
[[gnu::tls_model("initial-exec")]] extern thread_local std::atomic<clock::rep> tl_task_start;
// The same instant in base::tick_clock ticks, for spans measured from it (a job's run time).
[[gnu::tls_model("initial-exec")]] extern thread_local std::atomic<std::uint64_t> tl_task_start_tick;
// A reading of the counter the current task left for its carrier at its end (0: none).
[[gnu::tls_model("initial-exec")]] extern thread_local std::atomic<std::uint64_t> tl_task_end_tick;

// Fibers are created only on the runtime's own threads: a task submitted from anywhere else goes
// into a thread's inbox and that thread's hub fiber (its main fiber) starts it. The hub also fires
// the thread's timers, and idles (through the scheduler, in epoll) when there is nothing to do.
class runtime_core {
 public:
  runtime_core(runtime& owner, runtime_options opts);
  ~runtime_core();
  runtime_core(const runtime_core&) = delete;
  runtime_core& operator=(const runtime_core&) = delete;

  // submit: runs t on a carrier fiber: here when called on one of our threads, else via an inbox.
  void submit(task* t);
  // start_here: on one of our active threads, queues t for a carrier now and returns true; throws
  // what making a carrier threw, if one had to be made (the task is untouched). Elsewhere returns
  // false and does nothing.
  bool start_here(task* t);
  // call_at: `fire` runs on a hub fiber at `when`; it must be short and must not wait.
  timer_handle call_at(clock::time_point when, std::function<void()> fire);
  bool cancel(const timer_handle& h);

  void restart();
  bool started() const;
  std::size_t threads() const;
  const runtime_options& options() const noexcept { return opts_; }
  runtime& owner() noexcept { return owner_; }
  const std::shared_ptr<spdlog::logger>& log() const noexcept { return log_; }

  // current: the runtime whose thread calls, or null.
  static runtime_core* current() noexcept;
  // thread_index: the calling thread's index in its runtime (what on_thread_start saw); 0 on a
  // thread that is no runtime's. Read it once and do not keep it across a switch: the fiber may
  // resume on another thread.
  static std::size_t thread_index() noexcept { return tl_thread_index; }
  // task_start_time: when the carrier running the calling task started it, read by the carrier
  // anyway (carriers.cpp): what a task run by a carrier reads instead of the clock, first thing,
  // before any switch. Meaningless elsewhere (a job run inline on its parent's fiber).
  static clock::time_point task_start_time() noexcept {
    return clock::time_point(clock::duration(tl_task_start.load(std::memory_order_relaxed)));
  }
  static std::uint64_t task_start_tick() noexcept { return tl_task_start_tick.load(std::memory_order_relaxed); }
  static void set_task_start_time(clock::time_point t, std::uint64_t tick) noexcept {
    tl_task_start.store(t.time_since_epoch().count(), std::memory_order_relaxed);
    tl_task_start_tick.store(tick, std::memory_order_relaxed);
    tl_task_end_tick.store(0, std::memory_order_relaxed);  // a reading left by another task is not ours
  }
  // job_end_tick: reads the counter at a job's end (its run time's end) and leaves the reading for
  // the carrier, which reads the counter after every task (carriers.cpp) and takes this one
  // instead: one reading, 15 ns, less per job. Only for a task that returns to its carrier soon
  // after, without running user code in between (a quietly ending job: no on_ended).
  static std::uint64_t job_end_tick() noexcept {
    const std::uint64_t now = base::tick_clock::now();
    tl_task_end_tick.store(now, std::memory_order_relaxed);
    return now;
  }
  // task_end_tick: what the task that just returned left, or a fresh reading. A task started on
  // this thread since (the job was suspended meanwhile) cleared it.
  static std::uint64_t task_end_tick() noexcept {
    const std::uint64_t left = tl_task_end_tick.load(std::memory_order_relaxed);
    return left ? left : base::tick_clock::now();
  }

  // stats: runtime::stats() (runtime_stats.cpp).
  runtime_stats stats() const;
  // for_each_live: calls f for every live runtime of the process (see base::live_registry).
  template <class F>
  static void for_each_live(F&& f) {
    base::live_registry<runtime_core>::instance().for_each(std::forward<F>(f));
  }

  // Stalls (stall_watch.hpp): a pool hears of scheduler threads held by one fiber past `warning`.
  void watch_stalls(stall_listener& l, clock::duration warning) { stalls_->add(l, warning); }
  void unwatch_stalls(stall_listener& l) noexcept { stalls_->remove(l); }
  // activity: what each scheduler thread runs now, and since when if it has not switched since.
  std::vector<thread_activity> activity() const { return stalls_->activity(); }

  // A hosted runtime (runtime_options::hosted), driven from the thread that constructed it.
  bool hosted() const noexcept { return opts_.hosted; }
  int poll_fd() const;
  std::size_t run_ready();
  std::optional<clock::time_point> next_deadline() const;
  // drive_from: has `loop` drive this hosted runtime (loop_driver) until the runtime is destroyed
  // or, when given, keep_going() turns false. A second call with the same loop is a no-op (several
  // pools of one shared runtime register with its loop); with another loop it throws error, as it
  // does for a runtime that is not hosted. On the loop's (the runtime's) thread.
  void drive_from(event_loop& loop, std::function<bool()> keep_going = {});

 public:
  struct thread_state;  // one per scheduler thread (thread_state.hpp)

 private:
  struct host_state;  // host_state.hpp
  friend void fiber_body(carrier_queue* home) noexcept;  // fiber_launch.hpp

  // How often a leaving thread (stopping or retiring) looks again at whether its fibers are gone:
  // fiber ends do not wake the hub, to keep job ends free of cross-thread traffic.
  static constexpr auto leave_poll = std::chrono::milliseconds(2);

  // threads.cpp: a thread's start and exit, and restart.
  thread_state& launch(std::size_t index);
  void wait_started(const std::vector<thread_state*>& states);
  void thread_main(thread_state& ts) noexcept;
  // enter / leave: what makes a thread one of ours (the scheduler, the I/O poller, offload) and
  // what undoes it.
  void enter(thread_state& ts);
  void leave(thread_state& ts) noexcept;
  void reap_retired();

  // hub.cpp: tasks reaching a thread, and the loop its main fiber runs.
  std::size_t run_hub_duties(thread_state& ts);
  void hub_loop(thread_state& ts);
  void hand_off(thread_state& from);
  bool push_inbox(thread_state& ts, task* t);
  thread_state* pick_target(const thread_state* avoid) noexcept;

  // carriers.cpp: the fibers tasks run on.
  void start_fiber(task* t);  // carry(t), or discard t if no carrier can be made for it
  void carry(task* t);        // queues t for a carrier here; throws if it needed one and none could be made
  void make_carrier(carrier_queue& home);  // throws if no fiber (stack) can be made
  void make_carriers(carrier_queue& home, std::size_t n) noexcept;  // a failure ends what it strands
  void carry_tasks(carrier_queue& home) noexcept;  // a carrier's life
  void fiber_failed(const std::exception& e) noexcept;
  void fibers_made_again() noexcept;

  // hosting.cpp: a hosted runtime on its host's thread.
  void host_here();
  void unhost() noexcept;
  host_state& host_of_this_thread(const char* what) const;

  runtime& owner_;
  runtime_options opts_;
  std::shared_ptr<spdlog::logger> log_;
  scheduler::worker_set workers_;
  std::unique_ptr<stall_watch> stalls_;  // reads workers_' slots: made after them, gone before
  // A thread's state belongs to its scheduler slot and stays, for the slot's next thread, until the
  // runtime goes: by_slot_ is read without a lock (pick_target, cancel), so whoever loaded a state
  // there may still be reading it after its thread was joined.
  std::unique_ptr<std::atomic<thread_state*>[]> by_slot_;   // slot index -> its state, set once
  std::mutex threads_mu_;                                   // guards threads_ and states_
  std::vector<std::unique_ptr<thread_state>> states_;       // by slot index
  std::vector<thread_state*> threads_;                      // started and not yet joined by restart()
  std::mutex restart_mu_;
  std::atomic<std::size_t> next_target_{0};
  std::atomic<std::uint64_t> next_timer_id_{1};
  std::atomic<bool> stopping_{false};
  std::atomic<std::size_t> fiber_failures_{0};  // in the current burst (start_fiber)
  std::shared_ptr<hub::io_poller> io_;  // shared with the streams registered with it
  std::unique_ptr<hub::offload_pool> offload_;
  std::unique_ptr<host_state> host_;  // hosted runtimes only
  event_loop* driven_by_ = nullptr;     // drive_from()
  std::unique_ptr<loop_driver> driver_;
  // How late the hub fired due timers (runtime_stats::lag_seconds), per thread.
  base::sharded_histograms<1> lag_;
  // Last: the runtime is visible to prometheus_text() once everything above is made.
  base::live_registry<runtime_core>::membership listed_{this};
};

// check_stack_size: throws std::invalid_argument, naming `option`, for a stack size outside
// [min_stack_size, max_stack_size].
void check_stack_size(std::size_t bytes, const char* option);

// Counts for diagnostics::snapshot().
std::size_t live_fibers() noexcept;
std::size_t live_runtimes() noexcept;

}  // namespace fiberpool::detail
