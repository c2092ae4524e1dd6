// timer_queue: an ordered map under a spin lock; timers are rare next to ready fibers.
#include "hub/timer_queue.hpp"

#include <mutex>

namespace fiberpool::hub {

bool timer_queue::add(clock::time_point when, std::uint64_t id, action fire) {
  std::lock_guard lk(mu_);
  auto it = entries_.emplace(key{when, id}, std::move(fire)).first;
  return it == entries_.begin();
}

bool timer_queue::cancel(clock::time_point when, std::uint64_t id) {
  std::lock_guard lk(mu_);
  return entries_.erase(key{when, id}) > 0;
}

std::vector<timer_queue::action> timer_queue::take_due(clock::time_point now) {
  std::vector<action> due;
  std::lock_guard lk(mu_);
  auto it = entries_.begin();
  while (it != entries_.end() && it->first.first <= now) {
    due.push_back(std::move(it->second));
    it = entries_.erase(it);
  }
  return due;
}

std::optional<clock::time_point> timer_queue::next_deadline() const {
  std::lock_guard lk(mu_);
  if (entries_.empty()) return std::nullopt;
  return entries_.begin()->first.first;
}

std::size_t timer_queue::size() const {
  std::lock_guard lk(mu_);
  return entries_.size();
}

bool timer_queue::move_to(timer_queue& other) {
  std::map<key, action> moved;
  {
    std::lock_guard lk(mu_);
    moved.swap(entries_);
  }
  if (moved.empty()) return false;
  std::lock_guard lk(other.mu_);
  other.entries_.merge(moved);
  return true;
}

}  // namespace fiberpool::hub
