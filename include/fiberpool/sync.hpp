// Fiber-aware synchronisation: event, semaphore, channel. Every wait is a cancellation point and
// works across the runtime's threads and from plain threads.
#pragma once

#include <cstddef>
#include <deque>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <utility>

#include <fiberpool/detail/wait.hpp>
#include <fiberpool/errors.hpp>
#include <fiberpool/types.hpp>

namespace fiberpool {

// A manual-reset event (eventlet Event / threading.Event).
class event {
 public:
  // set: wakes every waiter; later waits return at once until clear().
  void set();
  void clear();
  bool is_set() const;
  // wait: waits until set. Cancellation point.
  void wait();
  // wait_for: true if set within d. Cancellation point.
  bool wait_for(clock::duration d);
  bool wait_until(clock::time_point t);

 private:
  mutable detail::spin_mutex mu_;
  detail::wait_list waiters_;
  bool set_ = false;
};

// A counting semaphore. Waiters are served in FIFO order: release() hands permits to waiters
// directly, so a late try_acquire() cannot barge past them.
class semaphore {
 public:
  explicit semaphore(std::size_t n);
  // acquire: waits for a permit. Cancellation point; a cancelled waiter takes no permit.
  void acquire();
  bool try_acquire();
  bool try_acquire_for(clock::duration d);
  void release(std::size_t n = 1);
  std::size_t available() const;

 private:
  bool acquire_until(std::optional<clock::time_point> deadline);
  mutable detail::spin_mutex mu_;
  detail::wait_list waiters_;
  std::size_t count_;
};

// A bounded multi-producer multi-consumer channel. close() wakes every waiter: pushers get
// channel_closed, poppers drain what is left and then get nullopt.
template <class T>
class channel {
 public:
  // capacity must be at least 1; 0 throws std::invalid_argument.
  explicit channel(std::size_t capacity) : capacity_(capacity) {
    if (capacity == 0)
      throw std::invalid_argument("fiberpool: channel capacity must be at least 1");
  }

  // push: waits for room. Throws channel_closed once closed. Cancellation point.
  void push(T v) {
    std::unique_lock lk(mu_);
    while (!closed_ && items_.size() >= capacity_) {
      if (detail::wait_on(pushers_, lk, std::nullopt, {"channel push", this}) == detail::wait_status::cancelled) {
        lk.unlock();
        detail::raise_cancellation();
        lk.lock();
      }
    }
    if (closed_) throw channel_closed("fiberpool: push() on a closed channel");
    items_.push_back(std::move(v));
    poppers_.notify_one();
  }

  // try_push: false if full or closed.
  bool try_push(T& v) {
    std::lock_guard lk(mu_);
    if (closed_ || items_.size() >= capacity_) return false;
    items_.push_back(std::move(v));
    poppers_.notify_one();
    return true;
  }

  // pop: waits for an item; nullopt once closed and drained. Cancellation point.
  std::optional<T> pop() {
    std::unique_lock lk(mu_);
    while (items_.empty() && !closed_) {
      if (detail::wait_on(poppers_, lk, std::nullopt, {"channel pop", this}) == detail::wait_status::cancelled) {
        lk.unlock();
        detail::raise_cancellation();
        lk.lock();
      }
    }
    if (items_.empty()) return std::nullopt;
    std::optional<T> v(std::move(items_.front()));
    items_.pop_front();
    pushers_.notify_one();
    return v;
  }

  // close: idempotent; wakes every pusher and popper.
  void close() {
    std::lock_guard lk(mu_);
    closed_ = true;
    pushers_.notify_all();
    poppers_.notify_all();
  }

  bool is_closed() const { std::lock_guard lk(mu_); return closed_; }
  std::size_t size() const { std::lock_guard lk(mu_); return items_.size(); }
  std::size_t capacity() const noexcept { return capacity_; }

 private:
  mutable detail::spin_mutex mu_;
  detail::wait_list pushers_;
  detail::wait_list poppers_;
  std::deque<T> items_;
  std::size_t capacity_;
  bool closed_ = false;
};

}  // namespace fiberpool
