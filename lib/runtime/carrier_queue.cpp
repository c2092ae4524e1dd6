// carrier_queue: the queue, and the count of carriers coming for it, under one lock.
#include "runtime/carrier_queue.hpp"

#include <mutex>
#include <utility>

namespace fiberpool::detail {

std::size_t carrier_queue::push(task* t, std::size_t idle) noexcept {
  t->next_task = nullptr;
  std::lock_guard lk(mu_);
  if (tail_) tail_->next_task = t;
  else head_ = t;
  tail_ = t;
  ++size_;
  return more_carriers(idle);
}

carrier_queue::taken carrier_queue::take(bool coming, std::size_t idle) noexcept {
  std::lock_guard lk(mu_);
  if (coming) --coming_;
  taken out;
  if (!head_) return out;
  out.t = std::exchange(head_, head_->next_task);
  if (!head_) tail_ = nullptr;
  --size_;
  out.t->next_task = nullptr;
  // The task may block on one still queued here: carriers other than this one must be coming.
  out.carriers = more_carriers(idle);
  return out;
}

std::size_t carrier_queue::more_carriers(std::size_t idle) noexcept {
  const std::size_t want = carriers_wanted(size_, idle);
  if (coming_ >= want) return 0;
  const std::size_t make = want - coming_;
  coming_ = want;
  return make;
}

task* carrier_queue::carrier_failed() noexcept {
  std::lock_guard lk(mu_);
  --coming_;
  if (coming_ > 0) return nullptr;
  tail_ = nullptr;
  size_ = 0;
  return std::exchange(head_, nullptr);
}

std::size_t carrier_queue::size() const noexcept {
  std::lock_guard lk(mu_);
  return size_;
}

}  // namespace fiberpool::detail
