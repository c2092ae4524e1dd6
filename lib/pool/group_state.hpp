// group_state: one task group of a pool: its live jobs and the maps feeding it.
#pragma once

#include <algorithm>
#include <cstddef>
#include <string>
#include <vector>

#include <fiberpool/detail/job_record.hpp>
#include <fiberpool/detail/map_feeder.hpp>

namespace fiberpool::detail {

// Members are linked through their job_extras, so joining and leaving a group never allocates and
// a group holds only its live jobs: a map of ten million items holds at most num_concurrent.
// Guarded by the pool's lock.
struct group_state {
  std::string name;
  job_record* first = nullptr;
  std::size_t members = 0;
  std::vector<map_feeder*> feeders;   // running maps whose jobs join this group

  // idle: nothing would be lost by forgetting it (flush()).
  bool idle() const noexcept { return !first && feeders.empty(); }

  void join(job_record& rec) noexcept {
    job_extras& x = *rec.extras;
    x.grp = this;
    x.group_prev = nullptr;
    x.group_next = first;
    if (first) first->extras->group_prev = &rec;
    first = &rec;
    ++members;
  }

  void leave(job_record& rec) noexcept {
    job_extras& x = *rec.extras;
    if (x.group_prev) x.group_prev->extras->group_next = x.group_next;
    else first = x.group_next;
    if (x.group_next) x.group_next->extras->group_prev = x.group_prev;
    x.grp = nullptr;
    x.group_prev = x.group_next = nullptr;
    --members;
  }

  void drop_feeder(map_feeder& f) noexcept {
    feeders.erase(std::remove(feeders.begin(), feeders.end(), &f), feeders.end());
  }
};

}  // namespace fiberpool::detail
