// carrier_queue: the queue, and the count of carriers coming for it, under one lock.
#include "runtime/carrier_queue.hpp"

#include <mutex>
#include <utility>

namespace fiberpool::detail {

void carrier_queue::push_newest(task* t) noexcept {
  t->prev_task = nullptr;
  t->next_task = lifo_;
  if (lifo_) lifo_->prev_task = t;
  else lifo_oldest_ = t;
  lifo_ = t;
}

std::size_t carrier_queue::push(task* t, bool lifo, std::size_t idle) noexcept {
  std::lock_guard lk(mu_);
  if (lifo) {
    push_newest(t);
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
    if (lifo_) lifo_->prev_task = nullptr;
    else lifo_oldest_ = nullptr;
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

task* carrier_queue::pop_oldest() noexcept {
  // The arrivals from the hub first (they have waited a round already), then the oldest children.
  task* t;
  if (fifo_head_) {
    t = std::exchange(fifo_head_, fifo_head_->next_task);
    if (!fifo_head_) fifo_tail_ = nullptr;
  } else {
    t = std::exchange(lifo_oldest_, lifo_oldest_->prev_task);
    if (lifo_oldest_) lifo_oldest_->next_task = nullptr;
    else lifo_ = nullptr;
  }
  --size_;
  t->next_task = t->prev_task = nullptr;
  return t;
}

carrier_queue::taken carrier_queue::steal(std::size_t idle) noexcept {
  std::lock_guard lk(mu_);
  --coming_;
  taken out;
  if (size_ == 0) return out;
  out.t = pop_oldest();
  out.carriers = more_carriers(idle);
  return out;
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
  lifo_oldest_ = nullptr;
  task** end = &list;
  while (*end) end = &(*end)->next_task;
  *end = std::exchange(fifo_head_, nullptr);
  fifo_tail_ = nullptr;
  size_ = 0;
  return list;
}

}  // namespace fiberpool::detail
