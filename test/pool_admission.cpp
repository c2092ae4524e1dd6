// pool_admission: job ids, FIFO admission, limit/grow/shrink/resize, queue bounds, inline recursion,
// apply() arguments and results, and the job<R> handle.
#include <algorithm>
#include <array>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <future>
#include <memory>
#include <mutex>
#include <set>
#include <stdexcept>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "support.hpp"

using namespace fiberpool;
using namespace fiberpool_test;

namespace {

// blocker: a job that says it started and then waits to be released.
struct blocker {
  event started;
  event release;
};

job<void> apply_blocker(task_pool& pool, blocker& b) {
  return pool.apply([&b] {
    b.started.set();
    b.release.wait();
  });
}

// resize_log: records pool_resized as (old, new) pairs.
struct resize_log {
  std::mutex mu;
  std::vector<std::pair<std::size_t, std::size_t>> seen;
  void attach(task_pool& pool) {
    pool.signals().pool_resized.connect([this](task_pool&, std::size_t from, std::size_t to) {
      std::lock_guard lk(mu);
      seen.emplace_back(from, to);
    });
  }
  std::vector<std::pair<std::size_t, std::size_t>> get() {
    std::lock_guard lk(mu);
    return seen;
  }
};

int add(int a, int b) { return a + b; }

struct inline_report {
  job_id parent = 0;
  job_id child = 0;
  job_id seen_by_child = 0;
  job_id parent_after = 0;
  bool child_done_on_return = false;
  int value = 0;
};

}  // namespace

TEST_CASE("job ids start at 1 or above and strictly increase across pools") {
  with_threads([](std::size_t threads) {
    task_pool a(pool_opts(threads)), b(pool_opts(threads));
    a.start();
    b.start();
    std::vector<job_id> ids;
    for (int i = 0; i < 20; ++i) {
      ids.push_back(a.apply([] {}).id());
      ids.push_back(b.apply([] {}).id());
    }
    CHECK(ids.front() >= 1);
    CHECK(std::adjacent_find(ids.begin(), ids.end(), std::greater_equal<>()) == ids.end());
    a.waitall();
    b.waitall();
  });
}

TEST_CASE("job ids are unique when four threads apply at once") {
  with_threads([](std::size_t threads) {
    constexpr int per_thread = 250;
    task_pool pool(pool_opts(threads));
    pool.start();
    std::array<std::vector<job_id>, 4> ids;
    std::vector<std::thread> appliers;
    for (auto& mine : ids)
      appliers.emplace_back([&pool, &mine] {
        for (int i = 0; i < per_thread; ++i) mine.push_back(pool.apply([] {}).id());
      });
    for (auto& t : appliers) t.join();
    pool.waitall();

    std::set<job_id> all;
    for (auto& mine : ids) {
      CHECK(std::is_sorted(mine.begin(), mine.end()));
      all.insert(mine.begin(), mine.end());
    }
    CHECK(all.size() == 4 * per_thread);
    CHECK(*all.begin() >= 1);
    CHECK(pool.info().succeeded == 4 * per_thread);
  });
}

TEST_CASE("job ids are never reused after their jobs end and their pool is gone") {
  with_threads([](std::size_t threads) {
    job_id highest = 0;
    {
      task_pool old_pool(pool_opts(threads));
      old_pool.start();
      for (int i = 0; i < 10; ++i) highest = std::max(highest, old_pool.apply([] {}).id());
      old_pool.waitall();
    }
    task_pool pool(pool_opts(threads));
    pool.start();
    auto j = pool.apply([] { return this_job::id(); });
    CHECK(j.id() > highest);
    CHECK(j.get() == j.id());
  });
}

TEST_CASE("queued jobs start in the order they were applied") {
  with_threads([](std::size_t threads) {
    std::mutex mu;
    std::vector<int> order;
    task_pool pool(pool_opts(threads, 0));
    pool.start();
    for (int i = 0; i < 20; ++i)
      pool.apply([&, i] {
        std::lock_guard lk(mu);
        order.push_back(i);
      });
    pool.grow(1);
    pool.waitall();
    std::vector<int> expected(20);
    for (int i = 0; i < 20; ++i) expected[i] = i;
    CHECK(order == expected);
  });
}

TEST_CASE("a pool with limit 0 keeps every job queued until grow()") {
  with_threads([](std::size_t threads) {
    std::atomic<int> ran{0};
    task_pool pool(pool_opts(threads, 0));
    pool.start();
    for (int i = 0; i < 5; ++i) pool.apply([&] { ++ran; });
    settle();
    CHECK(pool.running() == 0);
    CHECK(pool.waiting() == 5);
    CHECK(pool.free() == 0);
    CHECK(ran == 0);

    pool.grow();
    pool.waitall();
    CHECK(ran == 5);
    CHECK(pool.waiting() == 0);
  });
}

TEST_CASE("grow() starts queued jobs at once, up to the new limit, and emits pool_resized") {
  with_threads([](std::size_t threads) {
    std::array<blocker, 3> b;
    resize_log resized;
    task_pool pool(pool_opts(threads, 0));
    resized.attach(pool);
    pool.start();
    auto j0 = apply_blocker(pool, b[0]);
    auto j1 = apply_blocker(pool, b[1]);
    auto j2 = apply_blocker(pool, b[2]);

    pool.grow(2);
    CHECK(pool.limit() == 2);
    REQUIRE(b[0].started.wait_for(patience));
    REQUIRE(b[1].started.wait_for(patience));
    CHECK(pool.running() == 2);
    CHECK(pool.waiting() == 1);
    CHECK(j2.state() == job_state::queued);

    pool.grow();
    CHECK(pool.limit() == 3);
    REQUIRE(b[2].started.wait_for(patience));
    CHECK(pool.waiting() == 0);
    CHECK(pool.running() == 3);

    for (auto& x : b) x.release.set();
    pool.waitall();
    CHECK(resized.get() == std::vector<std::pair<std::size_t, std::size_t>>{{0, 2}, {2, 3}});
  });
}

TEST_CASE("shrink() never kills a running job, floors at 0, and starts resume only below the limit") {
  with_threads([](std::size_t threads) {
    std::array<blocker, 3> b;
    resize_log resized;
    task_pool pool(pool_opts(threads, 2));
    resized.attach(pool);
    pool.start();
    CHECK(pool.free() == 2);
    auto j0 = apply_blocker(pool, b[0]);
    auto j1 = apply_blocker(pool, b[1]);
    auto j2 = apply_blocker(pool, b[2]);
    auto j3 = pool.apply([] { return 3; });
    REQUIRE(b[0].started.wait_for(patience));
    REQUIRE(b[1].started.wait_for(patience));
    CHECK(pool.running() == 2);
    CHECK(pool.waiting() == 2);

    pool.shrink();
    CHECK(pool.limit() == 1);
    CHECK(pool.running() == 2);
    CHECK(pool.free() == 0);  // limit 1 - running 2, never below 0
    CHECK(j0.state() == job_state::running);
    CHECK(j1.state() == job_state::running);

    // One job ends: running() == limit(), so nothing starts.
    b[0].release.set();
    REQUIRE(j0.wait_for(patience));
    CHECK(eventually([&] { return pool.running() == 1; }));
    settle();
    CHECK(j2.state() == job_state::queued);
    CHECK(pool.waiting() == 2);

    // The other ends: running() < limit(), so exactly one queued job starts.
    b[1].release.set();
    REQUIRE(b[2].started.wait_for(patience));
    CHECK(pool.waiting() == 1);
    CHECK(j3.state() == job_state::queued);

    pool.shrink(5);
    CHECK(pool.limit() == 0);
    CHECK(pool.free() == 0);
    b[2].release.set();
    REQUIRE(j2.wait_for(patience));
    settle();
    CHECK(j3.state() == job_state::queued);

    pool.resize(3);
    CHECK(pool.limit() == 3);
    CHECK(j3.get() == 3);
    CHECK(eventually([&] { return pool.free() == 3; }));
    CHECK(resized.get() == std::vector<std::pair<std::size_t, std::size_t>>{{2, 1}, {1, 0}, {0, 3}});
  });
}

TEST_CASE("apply() before start() queues the job, which runs after start()") {
  with_threads([](std::size_t threads) {
    std::atomic<bool> ran{false};
    task_pool pool(pool_opts(threads));
    auto j = pool.apply([&] { ran = true; return 5; });
    CHECK(j.state() == job_state::queued);
    CHECK(pool.waiting() == 1);
    CHECK(pool.running() == 0);
    settle();
    CHECK_FALSE(ran);

    pool.start();
    CHECK(j.get() == 5);
    CHECK(ran);
  });
}

TEST_CASE("overflow::reject throws pool_full once waiting() reaches max_queued") {
  with_threads([](std::size_t threads) {
    auto opts = pool_opts(threads, 0);
    opts.max_queued = 2;
    opts.on_overflow = overflow::reject;
    task_pool pool(opts);
    pool.start();
    auto a = pool.apply([] { return 1; });
    auto b = pool.apply([] { return 2; });
    CHECK_THROWS_AS(pool.apply([] { return 3; }), pool_full);
    CHECK(pool.waiting() == 2);

    pool.grow();
    CHECK(a.get() == 1);
    CHECK(b.get() == 2);
    CHECK(pool.apply([] { return 4; }).get() == 4);
  });
}

TEST_CASE("overflow::block blocks a foreign thread's apply() until the queue has room") {
  with_threads([](std::size_t threads) {
    auto opts = pool_opts(threads, 0);
    opts.max_queued = 1;
    opts.on_overflow = overflow::block;
    task_pool pool(opts);
    pool.start();
    auto first = pool.apply([] { return 1; });

    std::promise<job<int>> applied;
    auto second = applied.get_future();
    std::thread foreign([&] {
      try {
        applied.set_value(pool.apply([] { return 2; }));
      } catch (...) {
        applied.set_exception(std::current_exception());
      }
    });
    settle();
    CHECK(second.wait_for(0s) == std::future_status::timeout);
    CHECK(pool.waiting() == 1);

    pool.grow();  // `first` leaves the queue: room for the blocked apply()
    const bool unblocked = second.wait_for(patience) == std::future_status::ready;
    CHECK(unblocked);
    if (!unblocked) pool.terminate();  // rescue: let the foreign thread finish
    foreign.join();
    if (unblocked) CHECK(second.get().get() == 2);
    CHECK(first.get() == 1);
  });
}

// eventlet's GreenPool default: spawn() waits while the pool is full. With max_queued = 0 nothing
// is ever queued, so the only news of room is a running job's end, a kill or a bigger limit.
TEST_CASE("max_queued 0 with overflow::block: a blocked apply() starts once a slot frees") {
  enum class freed_by { job_end, kill, grow, resize };
  for (auto how : {freed_by::job_end, freed_by::kill, freed_by::grow, freed_by::resize}) {
    CAPTURE(static_cast<int>(how));
    with_threads([how](std::size_t threads) {
      auto opts = pool_opts(threads, 2);
      opts.max_queued = 0;
      opts.on_overflow = overflow::block;
      task_pool pool(opts);
      pool.start();
      event release, a_go;
      auto a = pool.apply([&] { a_go.wait(); return 1; });
      auto b = pool.apply([&] { release.wait(); return 2; });

      std::promise<job<int>> applied;
      auto third = applied.get_future();
      std::thread foreign([&] {
        try {
          applied.set_value(pool.apply([] { return 3; }));
        } catch (...) {
          applied.set_exception(std::current_exception());
        }
      });
      settle();
      CHECK(third.wait_for(0s) == std::future_status::timeout);
      CHECK(pool.waiting() == 0);

      switch (how) {
        case freed_by::job_end: a_go.set(); break;
        case freed_by::kill: pool.terminate_job(b.id()); break;
        case freed_by::grow: pool.grow(1); break;
        case freed_by::resize: pool.resize(3); break;
      }
      const bool unblocked = third.wait_for(patience) == std::future_status::ready;
      CHECK(unblocked);
      if (!unblocked) pool.terminate();  // rescue: let the foreign thread finish
      foreign.join();
      if (unblocked) CHECK(third.get().get() == 3);
      a_go.set();
      release.set();
      pool.stop();
    });
  }
}

TEST_CASE("overflow::block from a job suspends only that job's fiber") {
  with_threads([](std::size_t threads) {
    runtime_options rt_opts;
    rt_opts.threads = threads;
    runtime rt(rt_opts);
    event blocking;
    std::atomic<bool> applied{false};
    {
      auto target_opts = pool_opts(threads, 0);
      target_opts.max_queued = 1;
      target_opts.on_overflow = overflow::block;
      task_pool target(rt, target_opts);
      task_pool callers(rt, pool_opts(threads));
      target.start();
      callers.start();
      auto first = target.apply([] { return 1; });  // fills target's queue

      auto blocked = callers.apply([&] {
        blocking.set();
        auto child = target.apply([] { return 2; });
        applied = true;
        return child.get();
      });
      REQUIRE(blocking.wait_for(patience));
      // With one thread, this job can run only if the blocked apply() suspended just its fiber.
      auto other = callers.apply([] { return 3; });
      CHECK(other.wait_for(patience));
      settle();
      CHECK_FALSE(applied);
      CHECK(blocked.state() == job_state::running);

      target.grow();
      REQUIRE(blocked.wait_for(patience));
      CHECK(blocked.get() == 2);
      CHECK(first.get() == 1);
      CHECK(other.get() == 3);
    }
  });
}

TEST_CASE("a job that applies into its own full pool runs the child inline, under the child's id") {
  with_threads([](std::size_t threads) {
    task_pool pool(pool_opts(threads, 1));
    pool.start();
    auto parent = pool.apply([&] {
      inline_report r;
      r.parent = this_job::id();
      auto child = pool.apply([&r] {
        r.seen_by_child = this_job::id();
        return 41;
      });
      r.child_done_on_return = child.done();
      r.child = child.id();
      r.parent_after = this_job::id();
      r.value = child.get() + 1;
      return r;
    });
    REQUIRE(parent.wait_for(patience));  // a deadlock fails here instead of hanging
    auto r = parent.get();
    CHECK(r.parent == parent.id());
    CHECK(r.child != r.parent);
    CHECK(r.child != 0);
    CHECK(r.seen_by_child == r.child);
    CHECK(r.parent_after == r.parent);
    CHECK(r.child_done_on_return);
    CHECK(r.value == 42);
  });
}

TEST_CASE("recursion five deep into a pool of limit 1 completes") {
  with_threads([](std::size_t threads) {
    task_pool pool(pool_opts(threads, 1));
    pool.start();
    std::mutex mu;
    std::set<job_id> ids;
    std::function<int(int)> nest = [&](int depth) -> int {
      {
        std::lock_guard lk(mu);
        ids.insert(this_job::id());
      }
      if (depth == 0) return 0;
      return pool.apply(nest, depth - 1).get() + 1;
    };
    auto top = pool.apply(nest, 5);
    REQUIRE(top.wait_for(patience));
    CHECK(top.get() == 5);
    CHECK(ids.size() == 6);
    CHECK(ids.count(0) == 0);
  });
}

TEST_CASE("apply() passes extra arguments to the target") {
  with_threads([](std::size_t threads) {
    task_pool pool(pool_opts(threads));
    pool.start();
    CHECK(pool.apply([](int a, int b) { return a * 10 + b; }, 1, 2).get() == 12);
    CHECK(pool.apply(add, 3, 4).get() == 7);
    CHECK(pool.apply([](const std::string& s, std::size_t n) { return s.size() + n; }, std::string("abc"), 2u)
              .get() == 5);
    job_options named;
    named.name = "with-args";
    CHECK(pool.apply(named, [](int a, int b) { return a - b; }, 9, 4).get() == 5);
  });
}

TEST_CASE("apply() supports move-only results, move-only arguments and void") {
  with_threads([](std::size_t threads) {
    task_pool pool(pool_opts(threads));
    pool.start();
    job<std::unique_ptr<int>> boxed = pool.apply([] { return std::make_unique<int>(7); });
    auto copy = boxed;  // a second handle of the same job
    auto p = boxed.get();
    REQUIRE(p);
    CHECK(*p == 7);
    // Moved out once: a second get() on any handle says so instead of returning a moved-from null.
    CHECK_THROWS_WITH_AS(copy.get(), doctest::Contains("already taken by get()"), fiberpool::error);
    CHECK_THROWS_AS(boxed.get(), fiberpool::error);

    auto moved_in = pool.apply([](std::unique_ptr<int> q) { return *q + 1; }, std::make_unique<int>(41));
    CHECK(moved_in.get() == 42);

    std::atomic<bool> ran{false};
    job<void> nothing = pool.apply([&] { ran = true; });
    nothing.get();
    CHECK(ran);
    CHECK(nothing.state() == job_state::succeeded);
  });
}

TEST_CASE("a null function pointer or an empty std::function throws std::invalid_argument") {
  with_threads([](std::size_t threads) {
    task_pool pool(pool_opts(threads));
    pool.start();
    int (*null_fn)() = nullptr;
    std::function<int()> empty;
    std::atomic<int> applied{0};
    pool.signals().pool_apply.connect([&](task_pool&, job_id) { ++applied; });
    CHECK_THROWS_AS(pool.apply(null_fn), std::invalid_argument);
    CHECK_THROWS_AS(pool.apply(empty), std::invalid_argument);
    CHECK_THROWS_AS(pool.apply(job_options{}, empty), std::invalid_argument);
    CHECK(applied == 0);
    CHECK(pool.waiting() == 0);
    CHECK(pool.running() == 0);
  });
}

TEST_CASE("a stack_size below min_stack_size throws std::invalid_argument") {
  with_threads([](std::size_t threads) {
    auto opts = pool_opts(threads);
    opts.stack_size = min_stack_size - 1;
    CHECK_THROWS_AS([&] { task_pool pool(opts); }(), std::invalid_argument);

    opts.stack_size = min_stack_size;
    task_pool pool(opts);
    pool.start();
    CHECK(pool.apply([] { return 1; }).get() == 1);
  });
}

TEST_CASE("job<R> reports state, done(), wait_for(), wait() and get() through a job's life") {
  with_threads([](std::size_t threads) {
    blocker b;
    task_pool pool(pool_opts(threads, 1));
    pool.start();
    auto j = pool.apply([&] {
      b.started.set();
      b.release.wait();
      return std::string("done");
    });
    auto queued = pool.apply([] { return 2; });
    CHECK(queued.state() == job_state::queued);
    CHECK_FALSE(queued.done());
    REQUIRE(b.started.wait_for(patience));
    CHECK(j.state() == job_state::running);
    CHECK_FALSE(j.done());
    CHECK_FALSE(j.wait_for(1ms));

    auto copy = j;
    CHECK(copy.id() == j.id());
    b.release.set();
    j.wait();
    CHECK(j.done());
    CHECK(j.state() == job_state::succeeded);
    CHECK(j.wait_for(0s));
    CHECK(j.get() == "done");
    CHECK(copy.get() == "done");
    CHECK(queued.get() == 2);

    auto failing = pool.apply([]() -> int { throw std::runtime_error("boom"); });
    CHECK_NOTHROW(failing.wait());
    CHECK(failing.state() == job_state::failed);
    CHECK_THROWS_WITH_AS(failing.get(), "boom", std::runtime_error);

    job<int> empty;
    CHECK(empty.id() == 0);
    CHECK_FALSE(empty.valid());
    CHECK_THROWS_AS(empty.get(), invalid_job_id);
  });
}

TEST_CASE("the results of 10,000 jobs are all correct") {
  with_threads([](std::size_t threads) {
    constexpr std::uint64_t n = 10'000;
    task_pool pool(pool_opts(threads));
    pool.start();
    std::vector<job<std::uint64_t>> jobs;
    jobs.reserve(n);
    for (std::uint64_t i = 0; i < n; ++i)
      jobs.push_back(pool.apply(
          [](std::uint64_t x) {
            if (x % 7 == 0) this_job::yield();
            return 2 * x;
          },
          i));
    std::uint64_t sum = 0;
    for (auto& j : jobs) sum += j.get();
    CHECK(sum == n * (n - 1));
    CHECK(pool.info().succeeded == n);
  });
}
