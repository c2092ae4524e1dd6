// pool_groups: task groups and group_ids, cancel() and its checks, cancel_group, cancel_all,
// lock/unlock, is_full, flush, and gather_and_close.
#include <algorithm>
#include <atomic>
#include <csignal>
#include <cstddef>
#include <stdexcept>
#include <ranges>
#include <string>
#include <vector>

#include "support.hpp"

using namespace fiberpool;
using namespace fiberpool_test;

namespace {

job_options in_group(const std::string& g) {
  job_options o;
  o.group = g;
  return o;
}

struct job_failure : std::runtime_error {
  job_failure() : std::runtime_error("job failure") {}
};

}  // namespace

TEST_CASE("group_ids lists the group's live jobs; unknown groups throw group_not_found") {
  with_threads([](std::size_t threads) {
    task_pool pool(pool_opts(threads, 2));
    pool.start();
    event gate;
    auto a = pool.apply(in_group("g"), [&] { gate.wait(); });
    auto b = pool.apply(in_group("other"), [&] { gate.wait(); });
    auto c = pool.apply(in_group("g"), [&] { gate.wait(); });  // queued: limit 2
    auto ids = pool.group_ids("g");
    CHECK(ids == std::vector<job_id>{a.id(), c.id()});
    CHECK(pool.group_ids("other") == std::vector<job_id>{b.id()});
    CHECK(pool.has_group("g"));
    CHECK_FALSE(pool.has_group("nobody"));
    CHECK_THROWS_AS(pool.group_ids("nobody"), group_not_found);
    CHECK(pool.info().groups == 2);
    gate.set();
    pool.waitall();
    // Ended jobs leave their group; the group itself is known until flush().
    CHECK(pool.group_ids("g").empty());
    pool.flush();
    CHECK_THROWS_AS(pool.group_ids("g"), group_not_found);
  });
}

TEST_CASE("cancel checks every id first: one bad id cancels nothing") {
  with_threads([](std::size_t threads) {
    task_pool pool(pool_opts(threads, 1));
    pool.start();
    event gate;
    auto running = pool.apply([&] { gate.wait(); return 1; });
    auto queued = pool.apply([] { return 2; });
    auto done_pool_job = [&] {
      task_pool other(pool_opts(threads));
      other.start();
      auto j = other.apply([] {});
      j.wait();
      return j.id();
    }();
    CHECK_THROWS_AS(pool.cancel({running.id(), queued.id(), done_pool_job}), invalid_job_id);
    CHECK_THROWS_AS(pool.cancel({running.id(), 0}), invalid_job_id);
    CHECK_THROWS_AS(pool.cancel({queued.id(), queued.id() + 1000}), invalid_job_id);
    CHECK(queued.state() == job_state::queued);
    gate.set();
    CHECK(running.get() == 1);
    CHECK(queued.get() == 2);
  });
}

TEST_CASE("cancel cancels queued jobs and kills running ones, all of them") {
  with_threads([](std::size_t threads) {
    task_pool pool(pool_opts(threads, 2));
    pool.start();
    event never;
    semaphore started(0);
    auto r1 = pool.apply([&] { started.release(); never.wait(); });
    auto r2 = pool.apply([&] { started.release(); never.wait(); });
    auto q1 = pool.apply([] {});
    started.acquire();
    started.acquire();
    std::vector<job_id> ids{r1.id(), q1.id(), r2.id()};
    pool.cancel(ids);
    CHECK(q1.state() == job_state::cancelled);
    CHECK_THROWS_AS(q1.get(), job_cancelled);
    try {
      r1.get();
      FAIL("a cancelled running job returned");
    } catch (const job_terminated& k) {
      CHECK(k.signal() == SIGTERM);
    }
    CHECK_THROWS_AS(r2.get(), job_terminated);
    CHECK(r2.state() == job_state::terminated);
    CHECK(pool.info().cancelled == 1);
    CHECK(pool.info().terminated == 2);
  });
}

TEST_CASE("cancel tells already_ended and already_cancelled from invalid_job_id") {
  with_threads([](std::size_t threads) {
    log_capture quiet;  // the hard time limit below logs a warning
    pool_options po = pool_opts(threads, 1);
    po.logger = quiet.logger();
    task_pool pool(po);
    pool.start();
    event never;
    semaphore started(0);
    auto ok = pool.apply([] {});
    auto failed = pool.apply([] { throw job_failure(); });
    ok.wait();
    failed.wait();
    CHECK_THROWS_AS(pool.cancel({ok.id()}), already_ended);
    CHECK_THROWS_AS(pool.cancel({failed.id()}), already_ended);

    auto blocker = pool.apply([&] { started.release(); never.wait(); });
    started.acquire();
    auto queued = pool.apply([] {});
    pool.cancel({queued.id()});
    CHECK_THROWS_AS(pool.cancel({queued.id()}), already_cancelled);
    // A killed job is cancelled while it unwinds and once it has ended.
    pool.cancel({blocker.id()});
    CHECK_THROWS_AS(pool.cancel({blocker.id()}), already_cancelled);
    blocker.wait();
    CHECK_THROWS_AS(pool.cancel({blocker.id()}), already_cancelled);
    // terminate_job() counts as a cancel too; a hard time limit is the job's own end.
    auto killed = pool.apply([&] { never.wait(); });
    CHECK(killed.terminate());
    killed.wait();
    CHECK_THROWS_AS(pool.cancel({killed.id()}), already_cancelled);
    job_options limited;
    limited.hard_time_limit = std::chrono::milliseconds(1);
    auto timed_out = pool.apply(limited, [&] { never.wait(); });
    CHECK_THROWS_AS(timed_out.get(), time_limit_exceeded);
    CHECK_THROWS_AS(pool.cancel({timed_out.id()}), already_ended);
    // The check that fails is the first bad id, and nothing else is touched.
    auto live = pool.apply([&] { never.wait(); });
    CHECK_THROWS_AS(pool.cancel({live.id(), ok.id()}), already_ended);
    CHECK_FALSE(live.done());
    pool.cancel({live.id(), live.id()});  // an id given twice is cancelled once
    CHECK_THROWS_AS(live.get(), job_terminated);
  });
}

TEST_CASE("cancel_group cancels the group's jobs only and forgets the group") {
  with_threads([](std::size_t threads) {
    task_pool pool(pool_opts(threads, 2));
    pool.start();
    event never, gate;
    semaphore started(0);
    auto g_running = pool.apply(in_group("g"), [&] { started.release(); never.wait(); });
    auto other = pool.apply(in_group("h"), [&] { started.release(); gate.wait(); return 5; });
    auto g_queued = pool.apply(in_group("g"), [] {});
    auto plain = pool.apply([] { return 6; });
    started.acquire();
    started.acquire();
    pool.cancel_group("g");
    CHECK_FALSE(pool.has_group("g"));
    CHECK_THROWS_AS(pool.group_ids("g"), group_not_found);
    CHECK_THROWS_AS(pool.cancel_group("g"), group_not_found);
    CHECK_THROWS_AS(g_running.get(), job_terminated);
    CHECK(g_queued.state() == job_state::cancelled);
    gate.set();
    CHECK(other.get() == 5);
    CHECK(plain.get() == 6);
    // A new job may take the name again; it starts a new group.
    auto again = pool.apply(in_group("g"), [&] { never.wait(); });
    CHECK(pool.group_ids("g") == std::vector<job_id>{again.id()});
    pool.cancel_group("g");
    CHECK_THROWS_AS(again.get(), job_terminated);
  });
}

TEST_CASE("cancel_all stops maps, cancels queued jobs, kills running ones, forgets groups; the pool stays open") {
  with_threads([](std::size_t threads) {
    task_pool pool(pool_opts(threads, 2));
    pool.start();
    event never;
    semaphore started(0);
    std::atomic<int> pulled{0};
    auto in = std::views::iota(0, 1000000) | std::views::transform([&](int i) { pulled.fetch_add(1); return i; });
    auto stream = pool.map([&](int i) { started.release(); never.wait(); return i; }, in, 1);
    auto running = pool.apply(in_group("g"), [&] { started.release(); never.wait(); });
    started.acquire();
    started.acquire();
    auto queued = pool.apply([] {});
    pool.cancel_all();
    CHECK_THROWS_AS(running.get(), job_terminated);
    CHECK(queued.state() == job_state::cancelled);
    int outcomes = 0;
    for (auto& o : stream) {
      CHECK_THROWS_AS(o.value(), job_terminated);
      ++outcomes;
    }
    CHECK(outcomes == 1);
    CHECK(pulled.load() == 1);
    CHECK(stream.stopped());
    CHECK(pool.info().groups == 0);
    CHECK(pool.state() == pool_state::running);
    CHECK(pool.apply([] { return 3; }).get() == 3);
  });
}

TEST_CASE("lock() refuses apply() with pool_locked; queued and running jobs go on; unlock() undoes it") {
  with_threads([](std::size_t threads) {
    task_pool pool(pool_opts(threads, 1));
    pool.start();
    event gate;
    // The running job applies a child once the pool is locked: refused like any other apply().
    auto running = pool.apply([&] {
      gate.wait();
      try {
        pool.apply([] {});
      } catch (const pool_locked&) {
        return 1;
      }
      return 0;
    });
    auto queued = pool.apply([] { return 2; });
    CHECK_FALSE(pool.is_locked());
    pool.lock();
    pool.lock();  // idempotent
    CHECK(pool.is_locked());
    CHECK_THROWS_AS(pool.apply([] {}), pool_locked);
    CHECK(pool.state() == pool_state::running);
    gate.set();
    CHECK(running.get() == 1);
    CHECK(queued.get() == 2);
    pool.unlock();
    CHECK_FALSE(pool.is_locked());
    CHECK(pool.apply([] { return 3; }).get() == 3);
  });
}

TEST_CASE("is_full: running() >= limit()") {
  with_threads([](std::size_t threads) {
    task_pool pool(pool_opts(threads, 2));
    pool.start();
    event gate;
    CHECK_FALSE(pool.is_full());
    auto a = pool.apply([&] { gate.wait(); });
    CHECK_FALSE(pool.is_full());
    auto b = pool.apply([&] { gate.wait(); });
    CHECK(pool.is_full());
    pool.shrink(1);
    CHECK(pool.is_full());
    pool.grow(5);
    CHECK_FALSE(pool.is_full());
    gate.set();
    pool.waitall();
    pool.resize(0);
    CHECK(pool.is_full());
  });
}

TEST_CASE("flush forgets ended jobs and idle groups, and keeps live ones") {
  with_threads([](std::size_t threads) {
    task_pool pool(pool_opts(threads));
    pool.start();
    event gate;
    auto ended = pool.apply(in_group("done"), [] {});
    auto cancelled = pool.apply(in_group("done"), [&] { gate.wait(); });
    ended.wait();
    pool.cancel({cancelled.id()});
    cancelled.wait();
    auto live = pool.apply(in_group("busy"), [&] { gate.wait(); });
    CHECK(pool.info().remembered == 2);
    CHECK_THROWS_AS(pool.cancel({ended.id()}), already_ended);
    CHECK_THROWS_AS(pool.cancel({cancelled.id()}), already_cancelled);
    pool.flush();
    CHECK(pool.info().remembered == 0);
    CHECK_THROWS_AS(pool.cancel({ended.id()}), invalid_job_id);
    CHECK_THROWS_AS(pool.cancel({cancelled.id()}), invalid_job_id);
    CHECK_FALSE(pool.has_group("done"));
    CHECK(pool.group_ids("busy") == std::vector<job_id>{live.id()});
    // A live job is still cancellable after a flush, and is remembered once it ends.
    pool.cancel({live.id()});
    live.wait();
    CHECK(pool.info().remembered == 1);
    CHECK_THROWS_AS(pool.cancel({live.id()}), already_cancelled);
  });
}

TEST_CASE("a long-lived pool flushed now and then remembers no more than it ran since the last flush") {
  with_threads([](std::size_t threads) {
    task_pool pool(pool_opts(threads));
    pool.start();
    constexpr std::size_t batch = 5000;
    for (int round = 0; round < 4; ++round) {
      for (std::size_t i = 0; i < batch; ++i) pool.apply(in_group("batch"), [] {});
      pool.waitall();
      CHECK(pool.info().remembered == batch);
      pool.flush();
      CHECK(pool.info().remembered == 0);
      CHECK(pool.info().groups == 0);
    }
    CHECK(pool.info().succeeded == 4 * batch);
  });
}

TEST_CASE("gather_and_close waits for every job, never throws a job's error, and closes") {
  with_threads([](std::size_t threads) {
    task_pool pool(pool_opts(threads, 2));
    pool.start();
    std::atomic<int> ran{0};
    std::vector<job<void>> jobs;
    for (int i = 0; i < 10; ++i)
      jobs.push_back(pool.apply([&, i] {
        this_job::yield();
        ran.fetch_add(1);
        if (i % 3 == 0) throw job_failure();
      }));
    CHECK_NOTHROW(pool.gather_and_close());
    CHECK(ran.load() == 10);
    CHECK(pool.state() == pool_state::closed);
    CHECK(pool.is_locked());
    CHECK(pool.running() == 0);
    CHECK(pool.info().failed == 4);
    CHECK_THROWS_AS(pool.apply([] {}), pool_closed);
    CHECK_THROWS_AS(jobs[0].get(), job_failure);
    CHECK_NOTHROW(pool.gather_and_close());  // again: nothing to wait for
  });
}

TEST_CASE("gather_and_close lets running jobs apply no more, and refuses misuse") {
  with_threads([](std::size_t threads) {
    {
      task_pool pool(pool_opts(threads));
      pool.start();
      auto own = pool.apply([&pool] {
        try {
          pool.gather_and_close();
        } catch (const deadlock_error&) {
          return true;
        }
        return false;
      });
      CHECK(own.get());
      CHECK(pool.state() == pool_state::running);
    }
    {
      task_pool never_started(pool_opts(threads));
      CHECK_THROWS_AS(never_started.gather_and_close(), error);
      CHECK(never_started.state() == pool_state::created);
    }
  });
}

TEST_CASE("gather_and_close closes the pool even when its wait is cut short") {
  with_threads([](std::size_t threads) {
    task_pool target(pool_opts(threads));
    task_pool caller(pool_opts(threads));
    target.start();
    caller.start();
    event never;
    semaphore started(0);
    auto stuck = target.apply([&] { started.release(); never.wait(); });
    started.acquire();
    // A job of another pool gathers `target`, and is killed while it waits.
    auto gatherer = caller.apply([&] {
      started.release();
      target.gather_and_close();
    });
    started.acquire();
    CHECK(eventually([&] { return target.is_locked(); }));
    gatherer.terminate();
    CHECK_THROWS_AS(gatherer.get(), job_terminated);
    CHECK(target.state() == pool_state::closed);
    CHECK_THROWS_AS(target.apply([] {}), pool_closed);
    stuck.terminate();
    stuck.wait();
  });
}
