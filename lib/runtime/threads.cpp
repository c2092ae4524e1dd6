// Runtime threads: start (the scheduler, I/O and offload bindings, on_thread_start), the hub loop
// they run until the runtime stops, exit, and restart, which retires the old threads while their
// fibers finish.
#include "runtime/runtime_core.hpp"

#include <chrono>
#include <cstdlib>
#include <string>

#include <pthread.h>

#include <boost/fiber/operations.hpp>
#include <spdlog/spdlog.h>

#include <fiberpool/errors.hpp>

#include "runtime/overflow_guard.hpp"
#include "runtime/thread_state.hpp"
#include "scheduler/algorithm.hpp"
#include "scheduler/sanitizers.hpp"

namespace fiberpool::detail {

runtime_core::thread_state& runtime_core::launch(std::size_t index) {
  scheduler::worker_slot* slot = workers_.claim();
  if (!slot)
    throw error("fiberpool: runtime '" + opts_.name + "' has no free scheduler slot: threads retired "
                "by earlier restarts still host fibers; wait for their jobs to end before restarting again");
  auto& owned = states_[slot->index];
  if (owned) {
    owned->reuse(index);
  } else {
    owned = std::make_unique<thread_state>();
    owned->slot = slot;
    owned->index = index;
    by_slot_[slot->index].store(owned.get());
  }
  slot->thread.store(index);
  thread_state& ref = *owned;
  threads_.push_back(&ref);
  ref.thread = std::thread([this, &ref] { thread_main(ref); });
  return ref;
}

void runtime_core::wait_started(const std::vector<thread_state*>& states) {
  // Thread start is a one-off: a short sleep loop is simpler than another wake-up channel.
  for (auto* ts : states)
    while (!ts->started.load()) std::this_thread::sleep_for(std::chrono::microseconds(50));
}

void runtime_core::thread_main(thread_state& ts) noexcept {
  std::string name = (opts_.name + "-" + std::to_string(ts.index)).substr(0, 15);
  ::pthread_setname_np(::pthread_self(), name.c_str());
  scheduler::sanitizers::thread_begin();  // before Boost.Fiber's per-thread state exists
  try {
    enter(ts);
  } catch (const std::exception& e) {
    SPDLOG_LOGGER_CRITICAL(log_, "fiberpool: thread {} of runtime '{}' could not start: {}", ts.index, opts_.name, e.what());
    std::abort();
  }
  alt_stack signal_stack;  // so a fiber that overflows its stack gets a report, not a bare segfault
  // A resting stall watchdog must watch this thread from its first job on, not from its first sleep.
  workers_.gate.thread_busy(*ts.slot);
  if (opts_.on_thread_start) {
    try {
      opts_.on_thread_start(ts.index);
    } catch (const std::exception& e) {
      SPDLOG_LOGGER_ERROR(log_, "fiberpool: on_thread_start({}) of runtime '{}' threw: {}", ts.index, opts_.name, e.what());
    } catch (...) {
      SPDLOG_LOGGER_ERROR(log_, "fiberpool: on_thread_start({}) of runtime '{}' threw", ts.index, opts_.name);
    }
  }
  ts.started.store(true);
  try {
    hub_loop(ts);
  } catch (const std::exception& e) {
    // Only allocation failures can get here; a thread that cannot run its hub cannot go on.
    SPDLOG_LOGGER_CRITICAL(log_, "fiberpool: hub of runtime '{}' failed: {}", opts_.name, e.what());
    std::abort();
  }
  leave(ts);
  ts.finished.store(true);
}

void runtime_core::enter(thread_state& ts) {
  boost::fibers::use_scheduling_algorithm<scheduler::algorithm>(workers_, *ts.slot);
  this_thread() = {this, &ts};
  tl_thread_index = static_cast<std::uint32_t>(ts.index);
  // Every thread watches the I/O poller's epoll, so whichever is idle harvests I/O readiness.
  ts.slot->idle.watch(io_->fd());
  hub::io_poller::bind_this_thread(io_.get());
  hub::offload_pool::bind_this_thread(offload_.get());
}

void runtime_core::leave(thread_state& ts) noexcept {
  hub::offload_pool::bind_this_thread(nullptr);
  hub::io_poller::bind_this_thread(nullptr);
  ts.slot->idle.unwatch(io_->fd());
  this_thread() = {};
  tl_thread_index = 0;
}

void runtime_core::reap_retired() {
  // Join retired threads that have left, and only then let restart() reuse their slots (and
  // states): until join() returns, the old thread's scheduler may still touch its slot. The states
  // stay where by_slot_ has them: other threads may be reading them (pick_target()).
  std::vector<thread_state*> done;
  {
    std::lock_guard lk(threads_mu_);
    auto it = std::stable_partition(threads_.begin(), threads_.end(), [](auto* ts) { return !ts->finished.load(); });
    done.assign(it, threads_.end());
    threads_.erase(it, threads_.end());
  }
  for (auto* ts : done) {
    ts->thread.join();
    ts->slot->state.store(scheduler::slot_state::exited);
  }
}

void runtime_core::restart() {
  if (hosted())
    throw error("fiberpool: runtime '" + opts_.name + "' is hosted: it runs on its host's thread and has "
                "no threads of its own to restart");
  if (current() == this)
    throw error("fiberpool: restart() was called from a fiber of the runtime it restarts; call it "
                "from another thread");
  std::lock_guard restart_lk(restart_mu_);
  reap_retired();
  std::vector<thread_state*> old, fresh;
  {
    std::lock_guard lk(threads_mu_);
    for (auto* ts : threads_)
      if (ts->slot->state.load() == scheduler::slot_state::active) old.push_back(ts);
    for (std::size_t i = 0; i < opts_.threads; ++i) fresh.push_back(&launch(i));
  }
  wait_started(fresh);
  for (auto* ts : old) {
    ts->slot->state.store(scheduler::slot_state::retiring);
    ts->kick();
  }
  // Prove the new threads serve: one no-op fiber on each, started through its inbox.
  struct probe final : task {
    parker done;
    task* run() noexcept override {
      done.unpark();
      return nullptr;
    }
    void discard() noexcept override { done.unpark(); }
  };
  std::vector<std::unique_ptr<probe>> probes;
  for (auto* ts : fresh) {
    probes.push_back(std::make_unique<probe>());
    if (!push_inbox(*ts, probes.back().get())) probes.back()->discard();
  }
  for (auto& p : probes) p->done.park_until(std::nullopt);
}

}  // namespace fiberpool::detail
