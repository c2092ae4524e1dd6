// pool_callbacks: on_accepted/on_ended, the pool_apply/job_started/job_ended signals, and how an
// exception thrown by a callback or a receiver is logged without harming the job or the pool.
#include <algorithm>
#include <atomic>
#include <chrono>
#include <csignal>
#include <exception>
#include <map>
#include <mutex>
#include <stdexcept>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "support.hpp"

using namespace fiberpool;
using namespace fiberpool_test;

namespace {

// What on_ended saw for one job.
struct ending {
  int calls = 0;
  job_state state = job_state::queued;
  std::exception_ptr error;
};

// ending_log: job_options whose on_ended records every call by job id.
struct ending_log {
  std::mutex mu;
  std::map<job_id, ending> by_id;
  std::atomic<int> accepted{0};

  job_options options() {
    job_options o;
    o.on_accepted = [this](job_id) { ++accepted; };
    o.on_ended = [this](job_id id, job_state s, std::exception_ptr e) {
      std::lock_guard lk(mu);
      auto& rec = by_id[id];
      ++rec.calls;
      rec.state = s;
      rec.error = e;
    };
    return o;
  }
  ending of(job_id id) {
    std::lock_guard lk(mu);
    return by_id[id];
  }
  std::size_t size() {
    std::lock_guard lk(mu);
    return by_id.size();
  }
};

// rethrown_message: what the exception_ptr holds, as text.
std::string rethrown_message(const std::exception_ptr& e) {
  if (!e) return "(null)";
  try {
    std::rethrow_exception(e);
  } catch (const job_terminated& k) {
    return "job_terminated:" + std::to_string(k.signal());
  } catch (const std::exception& x) {
    return std::string("std::exception:") + x.what();
  } catch (...) {
    return "other";
  }
}

bool logged(log_capture& cap, const std::string& what) {
  return eventually([&] { return cap.text().find(what) != std::string::npos; });
}

}  // namespace

TEST_CASE("on_accepted runs on the job's fiber, under the job's id, before the target") {
  with_threads([](std::size_t threads) {
    std::mutex mu;
    std::vector<std::string> order;
    std::atomic<job_id> seen_id{0};
    std::atomic<bool> on_fiber{false};
    task_pool pool(pool_opts(threads));
    pool.start();
    job_options opts;
    opts.on_accepted = [&](job_id id) {
      seen_id = this_job::id();
      on_fiber = runtime::current() == &pool.runtime();
      std::lock_guard lk(mu);
      order.push_back("accepted:" + std::to_string(id));
    };
    auto j = pool.apply(opts, [&] {
      std::lock_guard lk(mu);
      order.push_back("target");
    });
    j.get();
    CHECK(seen_id == j.id());
    CHECK(on_fiber);
    CHECK(order == std::vector<std::string>{"accepted:" + std::to_string(j.id()), "target"});
  });
}

TEST_CASE("on_ended runs exactly once for every accepted job, with its end state and error") {
  with_threads([](std::size_t threads) {
    event started, never;
    ending_log log;
    task_pool pool(pool_opts(threads, 1));
    pool.start();
    auto succeeded = pool.apply(log.options(), [] { return 1; });
    auto failed = pool.apply(log.options(), []() -> int { throw std::runtime_error("boom"); });
    auto terminated = pool.apply(log.options(), [&] { started.set(); never.wait(); return 3; });
    auto cancelled = pool.apply(log.options(), [] { return 4; });
    REQUIRE(started.wait_for(patience));
    CHECK(cancelled.terminate());
    CHECK(terminated.terminate(SIGHUP));
    pool.waitall();

    CHECK(log.size() == 4);
    auto s = log.of(succeeded.id());
    CHECK(s.calls == 1);
    CHECK(s.state == job_state::succeeded);
    CHECK_FALSE(s.error);

    auto f = log.of(failed.id());
    CHECK(f.calls == 1);
    CHECK(f.state == job_state::failed);
    CHECK(rethrown_message(f.error) == "std::exception:boom");

    auto t = log.of(terminated.id());
    CHECK(t.calls == 1);
    CHECK(t.state == job_state::terminated);
    CHECK(rethrown_message(t.error) == "job_terminated:" + std::to_string(SIGHUP));

    auto c = log.of(cancelled.id());
    CHECK(c.calls == 1);
    CHECK(c.state == job_state::cancelled);
    CHECK(log.accepted == 3);  // the cancelled job never left the queue
  });
}

TEST_CASE("on_ended has run by the time job::get() returns or throws") {
  with_threads([](std::size_t threads) {
    task_pool pool(pool_opts(threads));
    pool.start();
    for (int round = 0; round < 10; ++round) {
      CAPTURE(round);
      std::atomic<bool> ended{false};
      job_options opts;
      opts.on_ended = [&](job_id, job_state, std::exception_ptr) {
        // Slow on purpose: a get() that does not wait for on_ended returns first.
        std::this_thread::sleep_for(2ms);
        ended = true;
      };
      if (round % 2 == 0) {
        CHECK(pool.apply(opts, [] { return 1; }).get() == 1);
      } else {
        CHECK_THROWS_AS(pool.apply(opts, []() -> int { throw std::logic_error("x"); }).get(), std::logic_error);
      }
      CHECK(ended);
    }
  });
}

TEST_CASE("on_ended of every job has run by the time waitall() returns") {
  with_threads([](std::size_t threads) {
    constexpr int n = 100;
    std::atomic<int> ended{0};
    task_pool pool(pool_opts(threads, 10));
    pool.start();
    job_options opts;
    opts.on_ended = [&](job_id id, job_state, std::exception_ptr) {
      if (id % 10 == 0) std::this_thread::sleep_for(2ms);
      ++ended;
    };
    for (int i = 0; i < n; ++i) pool.apply(opts, [] { this_job::yield(); });
    pool.waitall();
    CHECK(ended == n);
  });
}

TEST_CASE("an exception thrown by on_accepted is logged and the job still runs and succeeds") {
  with_threads([](std::size_t threads) {
    log_capture cap;
    auto popts = pool_opts(threads);
    popts.logger = cap.logger();
    task_pool pool(popts);
    pool.start();
    std::atomic<int> ended_calls{0};
    job_options opts;
    opts.on_accepted = [](job_id) { throw std::runtime_error("on_accepted-boom"); };
    opts.on_ended = [&](job_id, job_state, std::exception_ptr) { ++ended_calls; };
    auto j = pool.apply(opts, [] { return 5; });
    CHECK(j.get() == 5);
    CHECK(j.state() == job_state::succeeded);
    CHECK(ended_calls == 1);
    CHECK(logged(cap, "on_accepted-boom"));
    CHECK(pool.apply([] { return 6; }).get() == 6);
  });
}

TEST_CASE("an exception thrown by on_ended is logged, the job keeps its end and the pool goes on") {
  with_threads([](std::size_t threads) {
    log_capture cap;
    auto popts = pool_opts(threads);
    popts.logger = cap.logger();
    task_pool pool(popts);
    pool.start();
    std::atomic<int> calls{0};
    job_options opts;
    opts.on_ended = [&](job_id, job_state, std::exception_ptr) {
      ++calls;
      throw std::runtime_error("on_ended-boom");
    };
    auto ok = pool.apply(opts, [] { return 1; });
    REQUIRE(ok.wait_for(patience));
    CHECK(ok.get() == 1);
    CHECK(ok.state() == job_state::succeeded);
    auto bad = pool.apply(opts, []() -> int { throw std::invalid_argument("target-boom"); });
    REQUIRE(bad.wait_for(patience));
    CHECK(bad.state() == job_state::failed);
    CHECK_THROWS_WITH_AS(bad.get(), "target-boom", std::invalid_argument);
    pool.waitall();
    CHECK(calls == 2);
    CHECK(logged(cap, "on_ended-boom"));
    CHECK(pool.apply([] { return 2; }).get() == 2);
    CHECK(pool.info().succeeded == 2);
  });
}

TEST_CASE("an exception thrown by a signal receiver is logged and stops neither the others nor the pool") {
  with_threads([](std::size_t threads) {
    log_capture cap;
    auto popts = pool_opts(threads);
    popts.logger = cap.logger();
    task_pool pool(popts);
    std::atomic<int> applied_after{0}, started_after{0}, ended_after{0};
    pool.signals().pool_apply.connect([](task_pool&, job_id) { throw std::runtime_error("pool_apply-boom"); });
    pool.signals().pool_apply.connect([&](task_pool&, job_id) { ++applied_after; });
    pool.signals().job_started.connect([](task_pool&, job_id) { throw std::runtime_error("job_started-boom"); });
    pool.signals().job_started.connect([&](task_pool&, job_id) { ++started_after; });
    pool.signals().job_ended.connect([](task_pool&, job_id, job_state) { throw std::runtime_error("job_ended-boom"); });
    pool.signals().job_ended.connect([&](task_pool&, job_id, job_state) { ++ended_after; });
    pool.start();

    auto j = pool.apply([] { return 7; });
    CHECK(j.get() == 7);
    CHECK(j.state() == job_state::succeeded);
    CHECK(applied_after == 1);
    CHECK(started_after == 1);
    CHECK(eventually([&] { return ended_after == 1; }));
    CHECK(logged(cap, "pool_apply-boom"));
    CHECK(logged(cap, "job_started-boom"));
    CHECK(logged(cap, "job_ended-boom"));
    CHECK(pool.apply([] { return 8; }).get() == 8);
  });
}

TEST_CASE("pool_apply, job_started and job_ended carry the pool, the job ids and the end states") {
  with_threads([](std::size_t threads) {
    event started, never;
    std::mutex mu;
    std::vector<job_id> applied, began;
    std::vector<std::pair<job_id, job_state>> ended;
    std::atomic<bool> right_pool{true};
    task_pool pool(pool_opts(threads, 1));
    pool.signals().pool_apply.connect([&](task_pool& p, job_id id) {
      if (&p != &pool) right_pool = false;
      std::lock_guard lk(mu);
      applied.push_back(id);
    });
    pool.signals().job_started.connect([&](task_pool& p, job_id id) {
      if (&p != &pool) right_pool = false;
      std::lock_guard lk(mu);
      began.push_back(id);
    });
    pool.signals().job_ended.connect([&](task_pool& p, job_id id, job_state s) {
      if (&p != &pool) right_pool = false;
      std::lock_guard lk(mu);
      ended.emplace_back(id, s);
    });
    pool.start();

    auto ok = pool.apply([] { return 1; });
    {
      std::lock_guard lk(mu);
      CHECK(applied == std::vector<job_id>{ok.id()});  // emitted by apply() itself
    }
    auto bad = pool.apply([]() -> int { throw std::runtime_error("x"); });
    auto killed = pool.apply([&] { started.set(); never.wait(); return 3; });
    REQUIRE(started.wait_for(patience));
    auto cancelled = pool.apply([] { return 4; });
    CHECK(cancelled.terminate());
    CHECK(killed.terminate());
    pool.waitall();

    CHECK(eventually([&] {
      std::lock_guard lk(mu);
      return ended.size() == 4;
    }));
    std::lock_guard lk(mu);
    CHECK(applied == std::vector<job_id>{ok.id(), bad.id(), killed.id(), cancelled.id()});
    CHECK(began == std::vector<job_id>{ok.id(), bad.id(), killed.id()});  // limit 1: one at a time
    std::sort(ended.begin(), ended.end());
    CHECK(ended == std::vector<std::pair<job_id, job_state>>{{ok.id(), job_state::succeeded},
                                                             {bad.id(), job_state::failed},
                                                             {killed.id(), job_state::terminated},
                                                             {cancelled.id(), job_state::cancelled}});
    for (auto& [id, s] : ended) {
      CAPTURE(id);
      const job_state actual = id == ok.id()       ? ok.state()
                               : id == bad.id()    ? bad.state()
                               : id == killed.id() ? killed.state()
                                                   : cancelled.state();
      CHECK(s == actual);
    }
    CHECK(right_pool);
  });
}
