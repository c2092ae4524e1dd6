// simple_task_pool: start(n) as numbered groups, stop(n) newest first, stop_all, each job with its
// own copy of fn.
#include <algorithm>
#include <atomic>
#include <cstddef>
#include <functional>
#include <string>
#include <vector>

#include "support.hpp"

using namespace fiberpool;
using namespace fiberpool_test;

namespace {

// A worker that runs until it is stopped, counting how many are running.
struct worker {
  std::atomic<int>* running;
  semaphore* started;
  void operator()() const {
    running->fetch_add(1);
    started->release();
    try {
      for (;;) this_job::sleep_for(std::chrono::hours(1));
    } catch (...) {
      running->fetch_sub(1);
      throw;
    }
  }
};

}  // namespace

TEST_CASE("simple_task_pool starts n jobs of fn as group start-group-<i>") {
  with_threads([](std::size_t threads) {
    std::atomic<int> running{0};
    semaphore started(0);
    simple_task_pool workers(worker{&running, &started}, pool_opts(threads));
    CHECK(workers.pool().state() == pool_state::running);
    CHECK(workers.start(3) == "start-group-0");
    CHECK(workers.start(2) == "start-group-1");
    for (int i = 0; i < 5; ++i) started.acquire();
    CHECK(running.load() == 5);
    CHECK(workers.pool().group_ids("start-group-0").size() == 3);
    CHECK(workers.pool().group_ids("start-group-1").size() == 2);
    CHECK(workers.num_running() == 5);
    CHECK(workers.stop_all().size() == 5);
    workers.pool().waitall();
    CHECK(running.load() == 0);
  });
}

TEST_CASE("simple_task_pool::stop terminates the newest jobs first (LIFO)") {
  with_threads([](std::size_t threads) {
    std::atomic<int> running{0};
    semaphore started(0);
    simple_task_pool workers(worker{&running, &started}, pool_opts(threads));
    workers.start(2);
    workers.start(3);
    for (int i = 0; i < 5; ++i) started.acquire();
    std::vector<job_id> all = workers.pool().group_ids("start-group-0");
    auto second = workers.pool().group_ids("start-group-1");
    all.insert(all.end(), second.begin(), second.end());
    std::sort(all.begin(), all.end());

    auto stopped = workers.stop(2);
    CHECK(stopped == std::vector<job_id>{all[4], all[3]});
    for (job_id id : stopped) CHECK_THROWS_AS(workers.pool().cancel({id}), already_cancelled);
    // Stopped jobs are not stopped again: the next stop() takes the next newest.
    CHECK(workers.stop(1) == std::vector<job_id>{all[2]});
    CHECK(workers.num_running() == 2);
    CHECK(workers.pool().group_ids("start-group-0") == std::vector<job_id>{all[0], all[1]});
    CHECK(eventually([&] { return running.load() == 2; }));
    CHECK(workers.stop_all() == std::vector<job_id>{all[1], all[0]});
    CHECK(workers.stop(1).empty());
    workers.pool().waitall();
    CHECK(workers.pool().info().terminated == 5);
  });
}

TEST_CASE("simple_task_pool::stop skips jobs that ended on their own") {
  with_threads([](std::size_t threads) {
    event release_first;
    std::atomic<int> calls{0};
    semaphore started(0);
    // The first job started returns once released; the others run until stopped.
    simple_task_pool workers(
        [&] {
          bool first = calls.fetch_add(1) == 0;
          started.release();
          if (first) {
            release_first.wait();
            return;
          }
          for (;;) this_job::sleep_for(std::chrono::hours(1));
        },
        pool_opts(threads, 1));
    workers.start(1);
    started.acquire();
    auto first = workers.pool().group_ids("start-group-0");
    workers.pool().grow(1);
    workers.start(1);
    started.acquire();
    auto second = workers.pool().group_ids("start-group-1");
    REQUIRE(first.size() == 1);
    REQUIRE(second.size() == 1);
    release_first.set();
    CHECK(eventually([&] { return workers.pool().info().succeeded == 1; }));
    CHECK(workers.num_running() == 1);
    CHECK(workers.stop(2) == second);
  });
}

TEST_CASE("each job of a simple_task_pool runs its own copy of fn") {
  with_threads([](std::size_t threads) {
    std::atomic<int> total{0};
    simple_task_pool counters(
        [&, mine = 0]() mutable {
          for (int i = 0; i < 100; ++i) {
            ++mine;
            this_job::yield();
          }
          total.fetch_add(mine);
          CHECK(mine == 100);
        },
        pool_opts(threads));
    counters.start(4);
    counters.pool().waitall();
    CHECK(total.load() == 400);
    CHECK(counters.num_running() == 0);
    CHECK(counters.stop_all().empty());
  });
}

TEST_CASE("simple_task_pool refuses a null fn and a start-group name already taken") {
  with_threads([](std::size_t threads) {
    CHECK_THROWS_AS(simple_task_pool(std::function<void()>(), pool_opts(threads)), std::invalid_argument);
    simple_task_pool workers([] {}, pool_opts(threads));
    job_options o;
    o.group = "start-group-0";
    event gate;
    auto squatter = workers.pool().apply(o, [&] { gate.wait(); });
    CHECK_THROWS_AS(workers.start(1), group_exists);
    CHECK(workers.start(1) == "start-group-1");
    gate.set();
    workers.pool().waitall();
  });
}
