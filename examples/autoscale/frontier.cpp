// frontier: a simulated crawl queue. Pages wait in it; crawling one finds links to new pages
// until discovery closes, so the queue grows for a while and then drains.
#include "frontier.hpp"

#include <chrono>
#include <random>

#include <fiberpool/this_job.hpp>

namespace autoscale_example {

frontier::frontier(std::size_t seeds, fiberpool::clock::time_point discovery_ends, std::size_t max_queued)
    : discovery_ends_(discovery_ends), max_queued_(max_queued) {
  for (; next_id_ < seeds; ++next_id_) queue_.push_back(next_id_);
}

std::optional<std::size_t> frontier::take() {
  std::lock_guard lk(mu_);
  if (queue_.empty()) return std::nullopt;
  auto id = queue_.front();
  queue_.pop_front();
  return id;
}

void frontier::crawl(std::size_t id) {
  // The same page always costs the same and links to as many pages: runs differ only in timing.
  std::minstd_rand rng(static_cast<std::minstd_rand::result_type>(id + 1));
  fiberpool::this_job::sleep_for(std::chrono::milliseconds(20 + rng() % 60));  // the network
  const auto parsed = fiberpool::clock::now() + std::chrono::microseconds(300);
  while (fiberpool::clock::now() < parsed) {
  }  // parsing: CPU the fiber holds on to
  const std::size_t links = rng() % 4;  // 1.5 a page on average: the queue grows
  std::lock_guard lk(mu_);
  ++crawled_;
  if (fiberpool::clock::now() >= discovery_ends_) return;
  for (std::size_t i = 0; i < links && queue_.size() < max_queued_; ++i) queue_.push_back(next_id_++);
}

std::size_t frontier::queued() const {
  std::lock_guard lk(mu_);
  return queue_.size();
}

std::size_t frontier::crawled() const {
  std::lock_guard lk(mu_);
  return crawled_;
}

std::size_t frontier::discovered() const {
  std::lock_guard lk(mu_);
  return next_id_;
}

}  // namespace autoscale_example
