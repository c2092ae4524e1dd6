// frontier: a simulated crawl queue. Pages wait in it; crawling one finds links to new pages
// until discovery closes, so the queue grows for a while and then drains.
#pragma once

#include <cstddef>
#include <deque>
#include <mutex>
#include <optional>

#include <fiberpool/types.hpp>

namespace autoscale_example {

class frontier {
 public:
  // frontier: `seeds` pages to start with; links found after `discovery_ends` are not followed.
  // At most `max_queued` pages wait at once: links beyond that count as already seen.
  frontier(std::size_t seeds, fiberpool::clock::time_point discovery_ends, std::size_t max_queued);

  // take: the next page to crawl, if one waits.
  std::optional<std::size_t> take();
  // crawl: what crawling page `id` costs: a network wait (this_job::sleep_for, so the fiber gives
  // its thread to others) and some parsing on the CPU; then the links it found join the queue.
  void crawl(std::size_t id);

  std::size_t queued() const;
  std::size_t crawled() const;
  std::size_t discovered() const;  // pages that ever joined the queue

 private:
  const fiberpool::clock::time_point discovery_ends_;
  const std::size_t max_queued_;
  mutable std::mutex mu_;
  std::deque<std::size_t> queue_;
  std::size_t next_id_ = 0;
  std::size_t crawled_ = 0;
};

}  // namespace autoscale_example
