// Carriers: the fibers that run a runtime's tasks, one task after another.
//
// A task started on a runtime thread does not get a fiber of its own. It waits in the thread's
// carrier_queue, and a carrier fiber takes it: one that has just finished a task takes the next
// with no switch and no fiber made, and a new carrier is made only when tasks are queued and none
// is on its way (carrier_queue.hpp says why that rule is enough). A task that blocks keeps its
// carrier, stack and identity until it ends. A job's end may also hand its carrier the job it let
// start (task::run()'s result), which then runs next, before anything queued.
//
// So a burst of short jobs costs a fiber or two, not a fiber each; the stacks in use follow the
// jobs that run or block; and a carrier ends, giving its stack back, when it finds nothing to take.
#include <chrono>
#include <exception>

#include <boost/fiber/context.hpp>
#include <boost/fiber/operations.hpp>
#include <boost/fiber/type.hpp>
#include <spdlog/spdlog.h>

#include "base/thread_counter.hpp"
#include "base/tick_clock.hpp"
#include "runtime/carrier_queue.hpp"
#include "runtime/fiber_launch.hpp"
#include "runtime/thread_state.hpp"
#include "scheduler/algorithm.hpp"
#include "scheduler/sanitizers.hpp"

namespace fiberpool::detail {
namespace {

base::thread_counter fibers_alive;

// Fairness: a carrier that runs task after task without blocking lets the rest of its thread run
// (timers, I/O, woken fibers, a thief's steal) at least this often.
constexpr unsigned fair_share_tasks = 64;
constexpr auto fair_share_time = std::chrono::microseconds(100);

// started_by_job: the calling fiber is a carrier (a job, or another task), not the thread's hub
// or Boost's dispatcher: what it starts runs newest first (carrier_queue.hpp).
bool started_by_job() noexcept {
  auto* ctx = scheduler::running_context();
  return ctx && !ctx->is_context(boost::fibers::type::pinned_context);
}

// discard_all: ends tasks left with no carrier (none could be made), each once.
void discard_all(task* list) noexcept {
  while (list) {
    task* t = list;
    list = t->next_task;
    t->next_task = nullptr;
    t->discard();
  }
}

}  // namespace

void runtime_core::start_fiber(task* t) {
  try {
    carry(t);
  } catch (const std::exception& e) {
    fiber_failed(e);
    t->discard();
    return;
  }
  fibers_made_again();
}

void runtime_core::carry(task* t) {
  carrier_queue& here = this_thread().state->carriers;
  for (std::size_t n = here.push(t, started_by_job(), workers_.idle_threads()); n > 0; --n) {
    try {
      make_carrier(here);
    } catch (const std::exception& e) {
      // Left with no carrier coming, the queue holds t alone (it was empty when none was coming):
      // t goes back to the caller with the exception. Otherwise a carrier is on its way for t.
      if (here.carrier_failed()) throw;
      fiber_failed(e);
    }
  }
}

void runtime_core::make_carrier(carrier_queue& home) {
  thread_state& here = *this_thread().state;
  fibers_alive.increment();
  here.slot->host(+1);  // Boost attaches it here; awakened() detaches
  try {
    launch_fiber(opts_.stack_size, &home);  // runs fiber_body(&home)
  } catch (...) {
    here.slot->host(-1);
    fibers_alive.decrement();
    throw;
  }
}

void runtime_core::carry_tasks(carrier_queue& home) noexcept {
  carrier_queue* from = &home;
  bool coming = true;  // made for `home`, and counted there until it takes a task
  unsigned since_yield = 0;
  // One counter read per task (base/tick_clock.hpp: 15 ns where the clock costs 36, a tenth of a
  // job): it ends the fairness slice's check and dates the next task's start, from the slice's
  // anchor, a clock read at the slice's start.
  static const std::uint64_t slice_ticks = base::tick_clock::ticks_in(fair_share_time);
  clock::time_point slice_start;
  std::uint64_t slice_tick, now_tick;
  // The slice's thread and how many fibers it had resumed when the slice began: a task that
  // blocked, or yielded, let the rest of the thread run, and the carrier was resumed since.
  const scheduler::worker_slot* slice_slot;
  std::size_t slice_resumed;
  auto begin_slice = [&] {
    since_yield = 0;
    slice_start = clock::now();
    now_tick = slice_tick = base::tick_clock::now();
    slice_slot = this_thread().state->slot;
    slice_resumed = slice_slot->resumed.load(std::memory_order_relaxed);
  };
  begin_slice();
  for (;;) {
    // Made for another thread's queue and stolen before it ran: a thief (carrier_queue.hpp).
    const bool thief = coming && from != &this_thread().state->carriers;
    auto [t, carriers] = thief ? from->steal(workers_.idle_threads()) : from->take(coming, workers_.idle_threads());
    coming = false;
    if (!t) return;
    // The task may block on one still queued: other carriers must be on the way for those.
    make_carriers(*from, carriers);
    while (t) {
      set_task_start_time(slice_start + base::tick_clock::span_of(now_tick - slice_tick), now_tick);
      t = t->run();
      now_tick = task_end_tick();
      if (this_thread().state->slot != slice_slot ||
          slice_slot->resumed.load(std::memory_order_relaxed) != slice_resumed) {
        // The task was switched out and the thread served others meanwhile: that was the turn a
        // yield would give. A new slice starts; the carrier goes on, or ends if nothing is left
        // (ten thousand jobs woken at once end without one more switch each).
        begin_slice();
      } else if (++since_yield >= fair_share_tasks || now_tick - slice_tick >= slice_ticks) {
        // Unsigned: a counter that reads lower after the carrier moved cores ends the slice too.
        if (!t) {
          // Back to the queue of the thread it is on (where its task's end queued whatever it
          // started), as one of the carriers coming: none is made for what it will take.
          from = &this_thread().state->carriers;
          from->coming_back();
          coming = true;
        }
        scheduler::yield();
        begin_slice();
      }
    }
    // The carrier may have moved threads while its task ran: it serves the thread it is on now,
    // where the task's end queued whatever it started.
    if (!coming) from = &this_thread().state->carriers;
  }
}

void runtime_core::make_carriers(carrier_queue& home, std::size_t n) noexcept {
  for (; n > 0; --n) {
    try {
      make_carrier(home);
      fibers_made_again();
    } catch (const std::exception& e) {
      fiber_failed(e);
      discard_all(home.carrier_failed());
    }
  }
}

void runtime_core::fiber_failed(const std::exception& e) noexcept {
  // Once per burst, not once per task: a pool out of stacks fails every job it is handed.
  if (fiber_failures_.fetch_add(1, std::memory_order_relaxed) == 0)
    SPDLOG_LOGGER_ERROR(log_, "fiberpool: runtime '{}' could not create a fiber: {}; the jobs that get none fail "
                        "(further failures are counted, and logged once fibers can be made again)",
                        opts_.name, e.what());
}

void runtime_core::fibers_made_again() noexcept {
  if (fiber_failures_.load(std::memory_order_relaxed) == 0) return;
  if (std::size_t n = fiber_failures_.exchange(0, std::memory_order_relaxed); n > 1)
    SPDLOG_LOGGER_WARN(log_, "fiberpool: runtime '{}' creates fibers again; {} tasks in a row got none", opts_.name,
                       n);
}

void fiber_body(carrier_queue* home) noexcept {
  scheduler::sanitizers::arrived();  // the switch that started this fiber
  runtime_core::current()->carry_tasks(*home);
  // The fiber may have moved threads while it ran: count it off where it ends, and release the
  // thread it left last, if it still owes it (scheduler/algorithm.hpp, "Leaving threads").
  scheduler::settle_debt();
  scheduler::worker_slot& slot = *this_thread().state->slot;
  slot.host(-1);
  slot.ready.fiber_ended();  // Boost frees the stack when the dispatcher runs: soon (ready_queue.hpp)
  fibers_alive.decrement();
  scheduler::sanitizers::fiber_ending();  // only Boost's terminate() runs after this
}

std::size_t live_fibers() noexcept { return fibers_alive.read(); }

}  // namespace fiberpool::detail
