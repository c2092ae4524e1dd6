// algorithm: the four Boost.Fiber hooks, kept short; stealing and idling live in worker_set.
#include "scheduler/algorithm.hpp"

#include <boost/fiber/context.hpp>
#include <boost/fiber/type.hpp>

#include "scheduler/sanitizers.hpp"

namespace fiberpool::scheduler {
namespace {

bool pinned(boost::fibers::context* ctx) noexcept {
  return ctx->is_context(boost::fibers::type::pinned_context);
}

}  // namespace

void algorithm::awakened(boost::fibers::context* ctx) noexcept {
  sanitizers::arrived();
  if (pinned(ctx)) {
    self_.ready.push(ctx);
    return;
  }
  // Detached fibers belong to no thread while ready, so any thread of the runtime may run them.
  ctx->detach();
  self_.hosted.fetch_sub(1, std::memory_order_relaxed);
  worker_slot* target = &self_;
  if (self_.state.load(std::memory_order_relaxed) == slot_state::retiring) {
    if (worker_slot* t = workers_.forward_target(self_)) target = t;
  }
  target->ready.push(ctx);
  if (target != &self_) target->idle.wake();
  else workers_.wake_sleeper(self_);
}

boost::fibers::context* algorithm::pick_next() noexcept {
  sanitizers::arrived();
  boost::fibers::context* ctx = self_.ready.pop();
  if (!ctx && self_.state.load(std::memory_order_relaxed) == slot_state::active) ctx = workers_.steal(self_);
  if (ctx && !pinned(ctx)) {
    boost::fibers::context::active()->attach(ctx);
    self_.hosted.fetch_add(1, std::memory_order_relaxed);
  }
  // Boost switches to what we return, right away: tell the sanitizers now.
  if (ctx) sanitizers::switching_to(ctx);
  return ctx;
}

void algorithm::suspend_until(std::chrono::steady_clock::time_point const& deadline) noexcept {
  sanitizers::arrived();
  if (workers_.spin(self_)) return;
  if (!workers_.go_idle(self_)) return;
  self_.idle.wait_until(deadline);
  workers_.leave_idle(self_);
}

}  // namespace fiberpool::scheduler
