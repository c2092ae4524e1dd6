// carrier_queue: the queue, and the count of carriers coming for it, under one lock.
#include "runtime/carrier_queue.hpp"

#include <mutex>
#include <utility>

namespace fiberpool::detail {

std::size_t carrier_queue::push(task* t, bool lifo, std::size_t idle) noexcept {
  std::lock_guard lk(mu_);
  if (lifo) {
    t->next_task = lifo_;
    lifo_ = t;
  } else {
    t->next_task = nullptr;
    if (fifo_tail_) fifo_tail_->next_task = t;
    else fifo_head_ = t;
    fifo_tail_ = t;
  }
  ++size_;
  return more_carriers(idle);
}

task* carrier_queue::pop() noexcept {
  task* t;
  if (lifo_ && (streak_ < lifo_streak || !fifo_head_)) {
    t = std::exchange(lifo_, lifo_->next_task);
    ++streak_;
  } else {
    t = std::exchange(fifo_head_, fifo_head_->next_task);
    if (!fifo_head_) fifo_tail_ = nullptr;
    streak_ = 0;
  }
  --size_;
  t->next_task = nullptr;
  return t;
}

carrier_queue::taken carrier_queue::take(bool coming, std::size_t idle) noexcept {
  std::lock_guard lk(mu_);
  if (coming) --coming_;
  taken out;
  if (size_ == 0) return out;
  out.t = pop();
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

void carrier_queue::coming_back() noexcept {
  std::lock_guard lk(mu_);
  ++coming_;
}

task* carrier_queue::carrier_failed() noexcept {
  std::lock_guard lk(mu_);
  --coming_;
  if (coming_ > 0 || size_ == 0) return nullptr;
  // Nothing will take these: hand them all out, the newest-first ones before the others.
  task* list = std::exchange(lifo_, nullptr);
  task** end = &list;
  while (*end) end = &(*end)->next_task;
  *end = std::exchange(fifo_head_, nullptr);
  fifo_tail_ = nullptr;
  size_ = 0;
  return list;
}

}  // namespace fiberpool::detail
