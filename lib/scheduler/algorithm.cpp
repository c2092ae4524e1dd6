// algorithm: the four Boost.Fiber hooks, kept short; stealing and idling live in worker_set.
#include "scheduler/algorithm.hpp"

#include <cassert>
#include <utility>

#include <boost/fiber/context.hpp>
#include <boost/fiber/operations.hpp>
#include <boost/fiber/type.hpp>

#include "scheduler/sanitizers.hpp"
#include "scheduler/stack_allocator.hpp"

namespace fiberpool::scheduler {
namespace {

bool pinned(boost::fibers::context* ctx) noexcept {
  return ctx->is_context(boost::fibers::type::pinned_context);
}

}  // namespace

[[gnu::tls_model("initial-exec")]] constinit thread_local boost::fibers::context* tl_running = nullptr;
[[gnu::tls_model("initial-exec")]] constinit thread_local boost::fibers::context* tl_yielding = nullptr;

void yield() noexcept {
  boost::fibers::context* self = tl_running;
  if (!self) return boost::this_fiber::yield();  // a thread that is not a runtime's
  assert(self == boost::fibers::context::active());  // running_context()'s promise
  tl_yielding = self;
  // What boost::this_fiber::yield() does, less its two lookups of the active context (each a
  // __tls_get_addr call in Boost's shared library): the running context is the one we picked.
  self->get_scheduler()->yield(self);
}

void settle_debt() noexcept {
  boost::fibers::context* self = tl_running;
  if (!self || pinned(self)) return;
  stack_header* h = stack_header_of(self);
  if (h && h->owed_to) std::exchange(h->owed_to, nullptr)->settle();
}

// Runs on the algorithm's own thread (Boost destroys a scheduler, and set_algo() replaces one, on
// it). Whatever runs there next is no context of ours: settle_debt() must not look at the last one.
algorithm::~algorithm() { tl_running = nullptr; }

void algorithm::awakened(boost::fibers::context* ctx) noexcept {
  sanitizers::arrived();
  // The yield mark is for this call alone, whichever branch takes the context.
  const bool yielded = ctx == tl_yielding;
  if (yielded) tl_yielding = nullptr;
  if (pinned(ctx)) {
    self_.ready.push(ctx);
    return;
  }
  // Detached fibers belong to no thread while ready, so any thread of the runtime may run them.
  ctx->detach();
  self_.host(-1);
  worker_slot* target = &self_;
  if (self_.state.load(std::memory_order_relaxed) == slot_state::retiring) {
    if (worker_slot* t = workers_.forward_target(self_)) target = t;
  }
  if (target != &self_) {
    self_.ready.charge(ctx);  // its waker may still be in our scheduler ("Leaving threads")
    target->ready.push(ctx);
    target->idle.wake();
  } else if (yielded) {
    // A fiber that yields goes to the back (handed over by the fiber Boost switched to). It is
    // work a sleeping thread could steal: fibers that yield while they wait for each other, each
    // on its own thread, must find the other threads awake.
    self_.ready.push(ctx);
    workers_.wake_sleeper(self_);
  } else if (tl_running && !pinned(tl_running)) {
    self_.ready.push_lifo(ctx);  // made ready by the running job: it runs next (ready_queue.hpp)
    workers_.wake_sleeper(self_);
  } else {
    // Made ready by the hub or the dispatcher (a new fiber from the inbox, a wake from another
    // thread): this thread is about to pick, and will most likely run it itself. Waking a sleeper
    // first would cost a system call (an IPI on a VM) before the fiber runs, and the sleeper might
    // steal it and run it later still. pick() wakes one if work is left over once it has taken.
    self_.ready.push(ctx);
    self_.wake_deferred = true;
  }
  // A hosted thread between run_ready() calls: its host must learn there is work (poll_fd).
  if (self_.driver) self_.idle.wake();
}

// Not instrumented by TSan, whose idea of the running fiber changes inside: nothing may follow
// switching_to() but the return to Boost, which switches at once.
FIBERPOOL_NO_TSAN boost::fibers::context* algorithm::pick_next() noexcept {
  // A hosted runtime's thread handing its contexts to another algorithm (set_algo) as the runtime
  // goes away: only pinned ones are left, and Boost does not switch to them here, so no switch
  // is announced.
  if (self_.state.load(std::memory_order_relaxed) == slot_state::exited) return self_.ready.pop();
  boost::fibers::context* ctx = pick();
  // Boost switches to what we return, right away: tell the sanitizers now.
  if (ctx) sanitizers::switching_to(ctx);
  return ctx;
}

// Instrumented, so never inlined into pick_next() under TSan.
FIBERPOOL_TSAN_NOINLINE boost::fibers::context* algorithm::pick() noexcept {
  sanitizers::arrived();
  workers_.picking(self_);
  // The dispatcher runs once per round of the ready queue and at most every 16 picks
  // (ready_queue.hpp), holding no Boost lock: the place for a busy thread to look at I/O (an idle
  // one does in suspend_until).
  if (tl_running && tl_running->is_context(boost::fibers::type::dispatcher_context)) poll_io();
  boost::fibers::context* ctx = self_.ready.pop();
  // Decided once this thread takes a fiber for itself (not the dispatcher or the hub on their way).
  if (self_.wake_deferred && !(ctx && pinned(ctx))) {
    self_.wake_deferred = false;
    if (self_.ready.stealable() > 0) workers_.wake_sleeper(self_);
  }
  if (!ctx && self_.state.load(std::memory_order_relaxed) == slot_state::active) ctx = workers_.steal(self_);
  // The progress marks the stall watchdog samples (worker_set.hpp), one plain store each:
  // `running` before the count, so a reader that sees the count sees what it counts.
  if (ctx && !pinned(ctx)) {
    // Any context on this thread would do for attach(); asking Boost which is active costs more.
    if (!scheduler_) scheduler_ = boost::fibers::context::active()->get_scheduler();
    scheduler_->attach_worker_context(ctx);
    worker_slot& self = self_;  // in a register: atomic stores make GCC reload self_ after each
    self.host(+1);
    self.running.store(ctx, std::memory_order_relaxed);
    self.resumed_one();
  } else {
    self_.running.store(nullptr, std::memory_order_relaxed);
  }
  tl_running = ctx;
  return ctx;
}

void algorithm::suspend_until(std::chrono::steady_clock::time_point const& deadline) noexcept {
  sanitizers::arrived();
  if (self_.driver && self_.driver->idle(deadline)) {
    watch_gate::thread_idle(self_);  // back to the host's loop; run_ready() marks it busy again
    return;
  }
  if (workers_.spin(self_)) return;
  if (!workers_.go_idle(self_)) return;
  watch_gate::thread_idle(self_);
  bool io_ready = self_.idle.wait_until(deadline);
  worker_slot::count(self_.wakeups);
  workers_.gate.thread_busy(self_);
  workers_.leave_idle(self_);
  if (io_ready) poll_io();
}

void algorithm::poll_io() noexcept {
  poll_source* io = workers_.io();
  if (io && io->active()) io->poll();
}

}  // namespace fiberpool::scheduler
