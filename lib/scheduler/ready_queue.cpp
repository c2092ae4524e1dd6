// ready_queue: a spin-locked pair of rings; the critical sections are a few loads and stores.
#include "scheduler/ready_queue.hpp"

#include <algorithm>
#include <cstdlib>
#include <utility>
#include <mutex>
#include <new>

#include <boost/fiber/type.hpp>

#include "scheduler/stack_allocator.hpp"

namespace fiberpool::scheduler {
namespace {

bool pinned(context* ctx) noexcept { return ctx->is_context(boost::fibers::type::pinned_context); }
bool dispatcher(context* ctx) noexcept { return ctx->is_context(boost::fibers::type::dispatcher_context); }

}  // namespace

context_ring::context_ring() : ring_(new context*[256]), capacity_(256) {}

void context_ring::grow() noexcept {
  // Called under the queue's lock from noexcept hooks: running out of memory here cannot be
  // reported.
  auto* bigger = new (std::nothrow) context*[capacity_ * 2];
  if (!bigger) std::abort();
  for (std::size_t i = 0; i < size_; ++i) bigger[i] = at(i);
  ring_.reset(bigger);
  capacity_ *= 2;
  head_ = 0;
}

void context_ring::push_back(context* ctx) noexcept {
  if (size_ == capacity_) grow();
  at(size_++) = ctx;
}

context* context_ring::pop_front() noexcept {
  if (size_ == 0) return nullptr;
  context* ctx = at(0);
  head_ = (head_ + 1) & (capacity_ - 1);
  --size_;
  return ctx;
}

context* context_ring::pop_back() noexcept { return size_ == 0 ? nullptr : at(--size_); }

context* context_ring::take(std::size_t i) noexcept {
  context* ctx = at(i);
  for (std::size_t j = i; j + 1 < size_; ++j) at(j) = at(j + 1);
  --size_;
  return ctx;
}

// count: the atomics other threads read. They change only under the lock, so a plain store will
// do; wake_sleeper() fences before it looks for sleepers, which pairs with go_idle()'s look here.
void ready_queue::count(std::ptrdiff_t all, std::ptrdiff_t non_pinned) noexcept {
  size_.store(size_.load(std::memory_order_relaxed) + all, std::memory_order_relaxed);
  if (non_pinned)
    stealable_.store(stealable_.load(std::memory_order_relaxed) + non_pinned, std::memory_order_relaxed);
}

void ready_queue::push(context* ctx) noexcept {
  std::lock_guard lk(mu_);
  if (dispatcher(ctx)) {
    dispatcher_ = ctx;
    dispatcher_due_ = fifo_.size();
  } else {
    fifo_.push_back(ctx);
  }
  count(+1, pinned(ctx) ? 0 : +1);
}

void ready_queue::push_lifo(context* ctx) noexcept {
  std::lock_guard lk(mu_);
  lifo_.push_back(ctx);
  count(+1, +1);
}

context* ready_queue::pop() noexcept {
  std::lock_guard lk(mu_);
  context* ctx = nullptr;
  // Thieves take fifo fibers from the back, so fewer than `due` may be left before the dispatcher.
  dispatcher_due_ = std::min(dispatcher_due_, fifo_.size());
  const bool fifo_turn = lifo_.size() == 0 || streak_ >= lifo_streak;
  // The picks' minimum holds only while no fiber has ended: an ended fiber's stack is freed by the
  // dispatcher, and must be before the thread's main context (a host's loop) runs again.
  const bool round_done =
      dispatcher_due_ == 0 && (picks_ >= dispatcher_every || fifo_.size() == 0 || ended_ > 0);
  if (dispatcher_ && (ended_ >= ended_burst || remote_wake_.load(std::memory_order_relaxed) ||
                      (fifo_turn && round_done))) {
    ctx = std::exchange(dispatcher_, nullptr);
    remote_wake_.store(false, std::memory_order_relaxed);  // set again by any wake after this
    ended_ = 0;
    streak_ = 0;
    picks_ = 0;
  } else if (!fifo_turn || (lifo_.size() > 0 && fifo_.size() == 0)) {
    ctx = lifo_.pop_back();
    ++streak_;
    ++picks_;
  } else {
    ctx = fifo_.pop_front();
    streak_ = 0;
    if (!ctx) return nullptr;
    if (dispatcher_due_ > 0) --dispatcher_due_;
    ++picks_;
  }
  count(-1, pinned(ctx) ? 0 : -1);
  return ctx;
}

context* ready_queue::steal() noexcept {
  if (stealable_.load(std::memory_order_relaxed) == 0) return nullptr;
  std::unique_lock lk(mu_, std::try_to_lock);  // a busy queue is not worth waiting for
  if (!lk.owns_lock()) return nullptr;
  context* ctx = lifo_.pop_front();
  // At most two pinned contexts (main, dispatcher) can sit in the fifo, so this scan is short.
  for (std::size_t i = fifo_.size(); !ctx && i-- > 0;)
    if (!pinned(fifo_.at(i))) ctx = fifo_.take(i);
  if (ctx) {
    charge(ctx);  // under the lock: drained() sees the fiber queued or its debt
    count(-1, -1);
  }
  return ctx;
}

void ready_queue::charge(context* ctx) noexcept {
  stack_header* h = stack_header_of(ctx);
  // A fiber that already owes a queue has not parked since it left that queue's thread (it settles
  // whenever it parks or ends), so it was not woken here either: the first debt is the only one.
  if (!h || h->owed_to) return;
  h->owed_to = this;
  unsettled_.fetch_add(1, std::memory_order_relaxed);
}

bool ready_queue::drained() noexcept {
  std::lock_guard lk(mu_);
  return stealable_.load(std::memory_order_relaxed) == 0 && unsettled_.load(std::memory_order_acquire) == 0;
}

}  // namespace fiberpool::scheduler
