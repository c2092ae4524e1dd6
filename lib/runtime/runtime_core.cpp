// runtime_core: thread start and exit, inboxes, the hub loop each thread's main fiber runs, restart.
#include "runtime/runtime_core.hpp"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <stdexcept>
#include <string>

#include <pthread.h>

#include <boost/fiber/algo/round_robin.hpp>
#include <boost/fiber/fiber.hpp>
#include <boost/fiber/operations.hpp>
#include <spdlog/spdlog.h>

#include <fiberpool/errors.hpp>
#include <fiberpool/log.hpp>
#include <fiberpool/options.hpp>

#include "runtime/fiber_launch.hpp"
#include "runtime/loop_driver.hpp"
#include "runtime/overflow_guard.hpp"
#include "runtime/thread_state.hpp"
#include "base/thread_counter.hpp"
#include "scheduler/algorithm.hpp"
#include "scheduler/sanitizers.hpp"
#include "scheduler/stack_allocator.hpp"

namespace fiberpool::detail {
namespace {

std::atomic<std::size_t> runtimes_alive{0};

// How often a leaving thread (stopping or retiring) looks again at whether its fibers are gone:
// fiber ends do not wake the hub, to keep job ends free of cross-thread traffic.
constexpr auto leave_poll = std::chrono::milliseconds(2);

}  // namespace

// What a hosted runtime keeps about the thread it runs on and the run_ready() in progress.
struct runtime_core::host_state final : scheduler::host_driver {
  std::thread::id thread;
  thread_state* ts = nullptr;
  bool in_run_ready = false;
  clock::time_point fibers_deadline = clock::time_point::max();  // earliest sleeping fiber
  parker back_to_host;
  std::unique_ptr<alt_stack> signal_stack;

  // Called by the scheduler when nothing on the thread is ready: inside run_ready(), that is the
  // moment to return to the host; otherwise (the host thread blocked in a fiberpool wait) the
  // thread idles as any runtime thread does.
  bool idle(std::chrono::steady_clock::time_point deadline) noexcept override {
    if (!in_run_ready) return false;
    fibers_deadline = deadline;
    back_to_host.unpark();
    return true;
  }
};

void check_stack_size(std::size_t bytes, const char* option) {
  if (bytes < min_stack_size)
    throw std::invalid_argument("fiberpool: " + std::string(option) + " " + std::to_string(bytes) +
                                " is below the minimum of " + std::to_string(min_stack_size) +
                                " bytes; use at least fiberpool::min_stack_size");
  if (bytes > max_stack_size)
    throw std::invalid_argument("fiberpool: " + std::string(option) + " " + std::to_string(bytes) +
                                " is above the maximum of " + std::to_string(max_stack_size) +
                                " bytes (fiberpool::max_stack_size); every job reserves a whole stack, "
                                "so keep large data on the heap and the stack small");
}

// initial-exec: read on every carrier start and end; the default model for a shared library would
// call __tls_get_addr each time.
[[gnu::tls_model("initial-exec")]] thread_local current_thread tl_current;

[[gnu::noinline]] current_thread& this_thread() noexcept {
  asm volatile("" ::: "memory");
  return tl_current;
}

runtime_core* runtime_core::current() noexcept { return this_thread().core; }

[[gnu::tls_model("initial-exec")]] thread_local std::uint32_t tl_thread_index = 0;

runtime_core::runtime_core(runtime& owner, runtime_options opts)
    : owner_(owner),
      opts_(std::move(opts)),
      log_(fiberpool::logger()),
      workers_(std::max<std::size_t>(4, 4 * (opts_.threads ? opts_.threads : std::thread::hardware_concurrency()))),
      stalls_(std::make_unique<stall_watch>(workers_, opts_.name)),
      by_slot_(new std::atomic<thread_state*>[workers_.capacity()]),
      io_(std::make_shared<hub::io_poller>()),
      offload_(std::make_unique<hub::offload_pool>(opts_.offload_threads, opts_.name)) {
  check_stack_size(opts_.stack_size, "runtime_options::stack_size");
  if (opts_.threads == 0) opts_.threads = std::max(1u, std::thread::hardware_concurrency());
  if (opts_.hosted) opts_.threads = 1;
  for (std::size_t i = 0; i < workers_.capacity(); ++i) by_slot_[i].store(nullptr);
  states_.resize(workers_.capacity());
  workers_.set_io(io_.get());
  install_overflow_guard();
  if (opts_.hosted) {
    host_here();
    runtimes_alive.fetch_add(1);
    return;
  }
  runtimes_alive.fetch_add(1);
  std::vector<thread_state*> fresh;
  std::lock_guard lk(threads_mu_);
  for (std::size_t i = 0; i < opts_.threads; ++i) fresh.push_back(&launch(i));
  wait_started(fresh);
}

runtime_core::~runtime_core() {
  if (current() == this && !hosted()) {
    std::fputs("fiberpool: a runtime was destroyed from one of its own fibers; destroy it from "
               "another thread\n", stderr);
    std::abort();
  }
  stalls_.reset();  // its pools are gone, and leaving threads need no watching
  stopping_.store(true);
  driver_.reset();  // leaves the host's loop before the runtime it drives goes
  if (host_) unhost();
  std::vector<thread_state*> all;
  {
    std::lock_guard lk(threads_mu_);
    all.swap(threads_);
  }
  for (auto* ts : all) ts->kick();
  for (auto* ts : all)
    if (ts->thread.joinable()) ts->thread.join();
  for (auto* ts : all) {
    for (task* t = ts->inbox_head; t;) {
      task* next = t->next_task;
      t->discard();
      t = next;
    }
  }
  runtimes_alive.fetch_sub(1);
}

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
  if (ts.timers.size() > 0)
    for (auto& fire : ts.timers.take_due(clock::now())) {
      fire();
      ++done;
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

bool runtime_core::started() const {
  std::lock_guard lk(const_cast<std::mutex&>(threads_mu_));
  std::size_t up = 0;
  for (auto* ts : threads_)
    if (ts->slot->state.load() == scheduler::slot_state::active && ts->started.load()) ++up;
  return up == opts_.threads;
}

std::size_t runtime_core::threads() const { return workers_.active(); }

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

// --- hosted runtimes ---

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

std::size_t live_runtimes() noexcept { return runtimes_alive.load(); }

}  // namespace fiberpool::detail
