// ready_queue: a spin-locked ring; the critical sections are a few loads and stores.
#include "scheduler/ready_queue.hpp"

#include <cstdlib>
#include <mutex>
#include <new>

#include <boost/fiber/type.hpp>

namespace fiberpool::scheduler {
namespace {

bool pinned(context* ctx) noexcept { return ctx->is_context(boost::fibers::type::pinned_context); }

}  // namespace

ready_queue::ready_queue() : ring_(new context*[256]), capacity_(256) {}

void ready_queue::grow() noexcept {
  // Called under the lock from noexcept hooks: running out of memory here cannot be reported.
  auto* bigger = new (std::nothrow) context*[capacity_ * 2];
  if (!bigger) std::abort();
  std::size_t n = size_.load(std::memory_order_relaxed);
  for (std::size_t i = 0; i < n; ++i) bigger[i] = at(i);
  ring_.reset(bigger);
  capacity_ *= 2;
  head_ = 0;
}

void ready_queue::push(context* ctx) noexcept {
  std::lock_guard lk(mu_);
  std::size_t n = size_.load(std::memory_order_relaxed);
  if (n == capacity_) grow();
  at(n) = ctx;
  size_.store(n + 1, std::memory_order_relaxed);
  if (!pinned(ctx)) stealable_.fetch_add(1, std::memory_order_seq_cst);
}

context* ready_queue::pop() noexcept {
  std::lock_guard lk(mu_);
  std::size_t n = size_.load(std::memory_order_relaxed);
  if (n == 0) return nullptr;
  context* ctx = at(0);
  head_ = (head_ + 1) & (capacity_ - 1);
  size_.store(n - 1, std::memory_order_relaxed);
  if (!pinned(ctx)) stealable_.fetch_sub(1, std::memory_order_relaxed);
  return ctx;
}

context* ready_queue::steal() noexcept {
  if (stealable_.load(std::memory_order_relaxed) == 0) return nullptr;
  std::unique_lock lk(mu_, std::try_to_lock);  // a busy queue is not worth waiting for
  if (!lk.owns_lock()) return nullptr;
  std::size_t n = size_.load(std::memory_order_relaxed);
  // At most two pinned contexts (main, dispatcher) can sit in a queue, so this scan is short.
  for (std::size_t i = n; i-- > 0;) {
    context* ctx = at(i);
    if (pinned(ctx)) continue;
    for (std::size_t j = i; j + 1 < n; ++j) at(j) = at(j + 1);
    size_.store(n - 1, std::memory_order_relaxed);
    stealable_.fetch_sub(1, std::memory_order_relaxed);
    return ctx;
  }
  return nullptr;
}

}  // namespace fiberpool::scheduler
