// sample_history: one resource's samples (when, and whether it was overloaded) over a window.
#pragma once

#include <cstddef>
#include <deque>

#include <fiberpool/types.hpp>

namespace fiberpool::detail {

class sample_history {
 public:
  // add: a sample taken at `at`. Samples come in time order.
  void add(clock::time_point at, bool overloaded);
  // forget_before: drops samples taken before t.
  void forget_before(clock::time_point t);
  // overloaded_share: of the samples taken at or after `since`, the share that were overloaded;
  // 0 when there are none (no evidence of overload is no overload, as in Crawlee).
  double overloaded_share(clock::time_point since) const;
  std::size_t size() const noexcept { return samples_.size(); }

 private:
  struct sample {
    clock::time_point at;
    bool overloaded;
  };
  std::deque<sample> samples_;
};

}  // namespace fiberpool::detail
