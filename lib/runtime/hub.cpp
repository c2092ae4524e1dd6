// The hub: how tasks reach a runtime thread (the thread's own carrier queue, or another thread's
// inbox), the loop each thread's main fiber runs between them (inboxes, timers, hand-offs), and
// the runtime's timers.
#include "runtime/runtime_core.hpp"

#include <algorithm>
#include <chrono>
#include <utility>

#include "runtime/thread_state.hpp"
#include "scheduler/algorithm.hpp"

namespace fiberpool::detail {

std::size_t runtime_core::run_hub_duties(thread_state& ts) {
  task* batch;
  {
    std::lock_guard lk(ts.inbox_mu);
    batch = std::exchange(ts.inbox_head, nullptr);
    ts.inbox_tail = nullptr;
    ts.kicked = false;
  }
  std::size_t done = 0;
  while (batch) {
    task* t = std::exchange(batch, batch->next_task);
    t->next_task = nullptr;
    start_fiber(t);
    ++done;
  }
  if (ts.timers.size() > 0) {
    const auto now = clock::now();
    for (auto& due : ts.timers.take_due(now)) {
      lag_.record(0, static_cast<std::uint64_t>(std::chrono::nanoseconds(now - due.when).count()));
      due.fire();
      ++done;
    }
  }
  return done;
}

void runtime_core::hub_loop(thread_state& ts) {
  for (;;) {
    run_hub_duties(ts);

    auto state = ts.slot->state.load();
    bool leaving = stopping_.load() || state == scheduler::slot_state::retiring;
    if (leaving) {
      if (state == scheduler::slot_state::retiring) hand_off(ts);
      // drained(): also that no fiber which left this thread owes it (a wake from another thread
      // may still be in our Boost scheduler, which dies with the thread).
      if (ts.slot->hosted.load() == 0 && ts.slot->ready.drained()) {
        std::lock_guard lk(ts.inbox_mu);
        if (!ts.inbox_head) {
          ts.inbox_closed = true;
          return;
        }
      }
    }

    std::optional<clock::time_point> deadline;
    if (ts.timers.size() > 0) deadline = ts.timers.next_deadline();
    if (leaving) deadline = std::min(deadline.value_or(clock::time_point::max()), clock::now() + leave_poll);
    {
      std::lock_guard lk(ts.inbox_mu);
      if (ts.inbox_head || ts.kicked) continue;
      ts.hub_parked = true;
    }
    ts.hub.park_until(deadline);
    std::lock_guard lk(ts.inbox_mu);
    ts.hub_parked = false;
  }
}

bool runtime_core::start_here(task* t) {
  current_thread& here = this_thread();
  if (here.core != this ||
      here.state->slot->state.load() != scheduler::slot_state::active)
    return false;
  carry(t);
  return true;
}

bool runtime_core::push_inbox(thread_state& ts, task* t) {
  bool wake;
  {
    std::lock_guard lk(ts.inbox_mu);
    if (ts.inbox_closed) return false;
    if (ts.inbox_tail) ts.inbox_tail->next_task = t;
    else ts.inbox_head = t;
    ts.inbox_tail = t;
    wake = std::exchange(ts.hub_parked, false);
  }
  ts.wake_hub(wake);
  return true;
}

runtime_core::thread_state* runtime_core::pick_target(const thread_state* avoid) noexcept {
  std::size_t cap = workers_.capacity();
  std::size_t start = next_target_.fetch_add(1, std::memory_order_relaxed);
  for (std::size_t k = 0; k < cap; ++k) {
    thread_state* ts = by_slot_[(start + k) % cap].load(std::memory_order_acquire);
    if (ts && ts != avoid && ts->slot->state.load() == scheduler::slot_state::active) return ts;
  }
  return nullptr;
}

void runtime_core::submit(task* t) {
  current_thread& here = this_thread();
  if (here.core == this &&
      here.state->slot->state.load() == scheduler::slot_state::active) {
    start_fiber(t);
    return;
  }
  for (;;) {
    thread_state* target = pick_target(nullptr);
    if (!target) {
      // Only while the runtime is being destroyed: nothing can run the task any more.
      t->discard();
      return;
    }
    if (push_inbox(*target, t)) return;
  }
}

void runtime_core::hand_off(thread_state& from) {
  task* batch;
  {
    std::lock_guard lk(from.inbox_mu);
    batch = std::exchange(from.inbox_head, nullptr);
    from.inbox_tail = nullptr;
  }
  thread_state* to = pick_target(&from);
  if (!to) return;
  while (batch) {
    task* t = std::exchange(batch, batch->next_task);
    t->next_task = nullptr;
    if (!push_inbox(*to, t)) submit(t);
  }
  if (from.timers.move_to(to->timers)) to->kick();
}

timer_handle runtime_core::call_at(clock::time_point when, std::function<void()> fire) {
  current_thread& here = this_thread();
  thread_state* ts = here.core == this ? here.state : pick_target(nullptr);
  if (!ts || ts->slot->state.load() != scheduler::slot_state::active) ts = pick_target(nullptr);
  if (!ts) return {};
  timer_handle h{next_timer_id_.fetch_add(1, std::memory_order_relaxed), when,
                 static_cast<std::uint32_t>(ts->slot->index)};
  // Kick even on our own thread: the hub may be parked with a later deadline while a job arms.
  if (ts->timers.add(when, h.id, std::move(fire))) ts->kick();
  return h;
}

bool runtime_core::cancel(const timer_handle& h) {
  if (!h) return false;
  if (auto* ts = by_slot_[h.thread].load(std::memory_order_acquire); ts && ts->timers.cancel(h.when, h.id))
    return true;
  // restart() may have moved it to another thread's queue.
  std::lock_guard lk(threads_mu_);
  for (auto* ts : threads_)
    if (ts->timers.cancel(h.when, h.id)) return true;
  return false;
}

}  // namespace fiberpool::detail
