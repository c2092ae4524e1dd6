// ended_log (the pool's record of ended job ids, kept until flush()): ends recorded in a shuffled
// order, across many blocks, are found with the right kind; ids never recorded are unknown.
#include <algorithm>
#include <random>
#include <unordered_map>
#include <vector>

#include <doctest/doctest.h>

#include "pool/ended_log.hpp"

using fiberpool::job_id;
using fiberpool::detail::ended_log;

TEST_CASE("ended_log finds every recorded end with its kind, and nothing else") {
  for (unsigned seed : {1u, 2u, 3u}) {
    CAPTURE(seed);
    std::mt19937_64 rng(seed);
    // Jobs end roughly in id order: each id ends within a window of its neighbours, as jobs of a
    // pool with a limit do; every third id belongs to another pool and never ends here.
    std::vector<job_id> ends;
    for (job_id id = 1; id <= 30'000; ++id)
      if (id % 3 != 0) ends.push_back(id);
    for (std::size_t i = 0; i + 64 < ends.size(); i += 64) std::shuffle(ends.begin() + i, ends.begin() + i + 64, rng);
    // One straggler that ends long after its neighbours (a long-running job).
    std::swap(ends[10], ends.back());

    ended_log log;
    std::unordered_map<job_id, bool> model;
    for (job_id id : ends) {
      bool cancelled = rng() % 5 == 0;
      log.add(id, cancelled);
      model[id] = cancelled;
    }
    CHECK(log.size() == ends.size());
    CHECK(log.bytes() >= ends.size() * sizeof(std::uint64_t));
    for (job_id id = 1; id <= 30'100; ++id) {
      auto it = model.find(id);
      auto kind = log.find(id);
      if (it == model.end()) CHECK(kind == ended_log::end_kind::unknown);
      else CHECK(kind == (it->second ? ended_log::end_kind::cancelled : ended_log::end_kind::ended));
    }
    CHECK(log.find(0) == ended_log::end_kind::unknown);
  }
}

TEST_CASE("an emptied ended_log holds no blocks") {
  ended_log log;
  for (job_id id = 1; id <= 5000; ++id) log.add(id, false);
  CHECK(log.bytes() >= 5000 * sizeof(std::uint64_t));
  ended_log fresh;
  std::swap(log, fresh);  // what flush() does
  CHECK(log.size() == 0);
  CHECK(log.bytes() == 0);
  CHECK(log.find(17) == ended_log::end_kind::unknown);
  CHECK(fresh.find(17) == ended_log::end_kind::ended);
}
