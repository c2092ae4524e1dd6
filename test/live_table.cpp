// live_table (the pool's job-id table): random inserts, finds and erases agree with std::unordered_map.
#include <random>
#include <unordered_map>
#include <vector>

#include <doctest/doctest.h>

#include "pool/live_table.hpp"

using fiberpool::detail::job_record;
using fiberpool::detail::live_table;

TEST_CASE("live_table agrees with unordered_map through growth and backward-shift erases") {
  for (unsigned seed : {1u, 2u, 3u, 4u}) {
    CAPTURE(seed);
    std::mt19937_64 rng(seed);
    live_table table;
    std::unordered_map<fiberpool::job_id, job_record*> model;
    std::vector<fiberpool::job_id> ids;
    fiberpool::job_id next = 1;
    for (int step = 0; step < 200'000; ++step) {
      auto* fake = reinterpret_cast<job_record*>(static_cast<std::uintptr_t>(next * 16));
      if (ids.empty() || rng() % 3 != 0) {
        table.insert(next, fake);
        model.emplace(next, fake);
        ids.push_back(next++);
      } else {
        std::size_t k = rng() % ids.size();
        table.erase(ids[k]);
        model.erase(ids[k]);
        ids[k] = ids.back();
        ids.pop_back();
      }
      if (step % 97 == 0) {
        fiberpool::job_id probe = 1 + rng() % next;
        auto it = model.find(probe);
        REQUIRE(table.find(probe) == (it == model.end() ? nullptr : it->second));
      }
    }
    REQUIRE(table.size() == model.size());
    for (auto& [id, rec] : model) REQUIRE(table.find(id) == rec);
    std::size_t seen = 0;
    table.for_each([&](fiberpool::job_id id, job_record* rec) {
      ++seen;
      CHECK(model.at(id) == rec);
    });
    CHECK(seen == model.size());
  }
}
