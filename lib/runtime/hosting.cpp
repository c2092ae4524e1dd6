// Hosted runtimes: a runtime of one thread that lives on its host's thread (a server's own event
// loop), runs its fibers in run_ready(), and tells the host when to call again (poll_fd,
// next_deadline).
#include "runtime/runtime_core.hpp"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>

#include <boost/fiber/algo/round_robin.hpp>
#include <boost/fiber/operations.hpp>
#include <spdlog/spdlog.h>

#include <fiberpool/errors.hpp>

#include "runtime/host_state.hpp"
#include "runtime/thread_state.hpp"
#include "scheduler/algorithm.hpp"
#include "scheduler/sanitizers.hpp"

namespace fiberpool::detail {

void runtime_core::host_here() {
  if (current())
    throw error("fiberpool: runtime '" + opts_.name + "' cannot be hosted on a thread that already runs a "
                "runtime; create it on the host loop's own thread");
  auto h = std::make_unique<host_state>();
  h->thread = std::this_thread::get_id();
  thread_state* ts;
  {
    std::lock_guard lk(threads_mu_);
    scheduler::worker_slot* slot = workers_.claim();
    auto& owned = states_[slot->index];
    owned = std::make_unique<thread_state>();
    ts = owned.get();
    ts->slot = slot;
    ts->hosted = true;
    by_slot_[slot->index].store(ts);
    threads_.push_back(ts);
  }
  h->ts = ts;
  scheduler::sanitizers::thread_begin();
  enter(*ts);
  ts->slot->idle.set_hosted(true);
  ts->slot->driver = h.get();
  ts->slot->thread.store(0);
  scheduler::watch_gate::thread_idle(*ts->slot);  // the host's loop runs until run_ready()
  h->signal_stack = std::make_unique<alt_stack>();
  host_ = std::move(h);
  if (opts_.on_thread_start) {
    try {
      opts_.on_thread_start(0);
    } catch (const std::exception& e) {
      SPDLOG_LOGGER_ERROR(log_, "fiberpool: on_thread_start(0) of runtime '{}' threw: {}", opts_.name, e.what());
    } catch (...) {
      SPDLOG_LOGGER_ERROR(log_, "fiberpool: on_thread_start(0) of runtime '{}' threw", opts_.name);
    }
  }
  ts->started.store(true);
}

void runtime_core::unhost() noexcept {
  if (std::this_thread::get_id() != host_->thread) {
    std::fputs("fiberpool: a hosted runtime was destroyed on another thread than the one hosting it; "
               "destroy it on its host loop's thread\n", stderr);
    std::abort();
  }
  thread_state& ts = *host_->ts;
  // Drive the thread until every fiber has ended: this thread is the only one that can run them.
  auto busy = [&] {
    std::lock_guard lk(ts.inbox_mu);
    return ts.slot->hosted.load() > 0 || ts.slot->ready.stealable() > 0 || ts.inbox_head;
  };
  while (busy()) {
    try {
      run_hub_duties(ts);
    } catch (...) {
    }
    parker pause;  // the fibers run while we wait; the thread idles in epoll if they all wait
    pause.park_until(clock::now() + leave_poll);
  }
  {
    std::lock_guard lk(ts.inbox_mu);
    ts.inbox_closed = true;
  }
  ts.slot->driver = nullptr;
  ts.slot->idle.set_hosted(false);
  ts.slot->state.store(scheduler::slot_state::exited);
  leave(ts);
  // The thread outlives us: give Boost a scheduler that does not point into this runtime.
  boost::fibers::use_scheduling_algorithm<boost::fibers::algo::round_robin>();
  host_->signal_stack.reset();
  ts.finished.store(true);
}

runtime_core::host_state& runtime_core::host_of_this_thread(const char* what) const {
  if (!host_)
    throw error(std::string("fiberpool: ") + what + "() is for hosted runtimes; runtime '" + opts_.name +
                "' has its own threads (set runtime_options::hosted)");
  if (std::this_thread::get_id() != host_->thread)
    throw error(std::string("fiberpool: ") + what + "() of runtime '" + opts_.name +
                "' must be called on the thread that hosts it (the one that created it)");
  return *host_;
}

int runtime_core::poll_fd() const {
  if (!host_)
    throw error("fiberpool: poll_fd() is for hosted runtimes; runtime '" + opts_.name + "' has its own threads");
  return host_->ts->slot->idle.epoll_fd();
}

std::size_t runtime_core::run_ready() {
  host_state& h = host_of_this_thread("run_ready");
  if (h.in_run_ready) throw error("fiberpool: run_ready() called from inside run_ready() (from one of its fibers?)");
  thread_state& ts = *h.ts;
  auto& slot = *ts.slot;
  slot.idle.host_awake();
  std::size_t before = slot.resumed.load(std::memory_order_relaxed);
  h.fibers_deadline = clock::time_point::max();
  h.in_run_ready = true;
  try {
    for (;;) {
      // Fibers may run (and stall) from here on: the stall watchdog must be awake.
      workers_.gate.thread_busy(slot);
      run_hub_duties(ts);
      if (io_->active()) io_->poll();
      // Everything ready runs now; the scheduler hands control back here once nothing is
      // (host_state::idle), with the earliest sleeping fiber's deadline.
      h.back_to_host.park_until(std::nullopt);
      std::lock_guard lk(ts.inbox_mu);
      bool due = ts.timers.size() > 0 && ts.timers.next_deadline().value_or(clock::time_point::max()) <= clock::now();
      if (!ts.inbox_head && !due) break;
    }
  } catch (...) {
    h.in_run_ready = false;
    scheduler::watch_gate::thread_idle(slot);
    slot.idle.host_asleep();
    throw;
  }
  h.in_run_ready = false;
  scheduler::watch_gate::thread_idle(slot);
  slot.idle.host_asleep();
  return slot.resumed.load(std::memory_order_relaxed) - before;
}

std::optional<clock::time_point> runtime_core::next_deadline() const {
  if (!host_) return std::nullopt;
  auto d = host_->ts->timers.next_deadline();
  if (host_->fibers_deadline != clock::time_point::max())
    d = std::min(d.value_or(clock::time_point::max()), host_->fibers_deadline);
  return d;
}

}  // namespace fiberpool::detail
