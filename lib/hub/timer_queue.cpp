// timer_queue: an ordered map under a spin lock; timers are rare next to ready fibers.
#include "hub/timer_queue.hpp"

#include <mutex>

namespace fiberpool::hub {

bool timer_queue::add(clock::time_point when, std::uint64_t id, action fire) {
  std::lock_guard lk(mu_);
  auto it = entries_.emplace(key{when, id}, std::move(fire)).first;
  count_.store(entries_.size(), std::memory_order_release);
  return it == entries_.begin();
}

bool timer_queue::cancel(clock::time_point when, std::uint64_t id) {
  std::lock_guard lk(mu_);
  bool erased = entries_.erase(key{when, id}) > 0;
  count_.store(entries_.size(), std::memory_order_release);
  return erased;
}

std::vector<timer_queue::due_action> timer_queue::take_due(clock::time_point now) {
  std::vector<due_action> due;
  std::lock_guard lk(mu_);
  auto it = entries_.begin();
  while (it != entries_.end() && it->first.first <= now) {
    due.push_back({it->first.first, std::move(it->second)});
    it = entries_.erase(it);
  }
  count_.store(entries_.size(), std::memory_order_release);
  return due;
}

std::optional<clock::time_point> timer_queue::next_deadline() const {
  std::lock_guard lk(mu_);
  if (entries_.empty()) return std::nullopt;
  return entries_.begin()->first.first;
}

bool timer_queue::move_to(timer_queue& other) {
  std::map<key, action> moved;
  {
    std::lock_guard lk(mu_);
    moved.swap(entries_);
  }
  if (moved.empty()) return false;
  count_.store(0, std::memory_order_release);
  std::lock_guard lk(other.mu_);
  other.entries_.merge(moved);
  other.count_.store(other.entries_.size(), std::memory_order_release);
  return true;
}

}  // namespace fiberpool::hub
