// signal<...>: connection order, (scoped) disconnection, reentrancy, receiver errors, threads, and
// a pool's lifecycle signals.
#include <atomic>
#include <functional>
#include <mutex>
#include <stdexcept>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "support.hpp"

using namespace fiberpool_test;

TEST_CASE("emit calls every receiver in connection order with the emitted arguments") {
  fiberpool::signal<int> sig;
  std::vector<std::pair<char, int>> calls;
  sig.connect([&](int v) { calls.emplace_back('a', v); });
  sig.connect([&](int v) { calls.emplace_back('b', v); });
  sig.connect([&](int v) { calls.emplace_back('c', v); });

  sig.emit(7);
  sig.emit(8);

  const std::vector<std::pair<char, int>> expected{
      {'a', 7}, {'b', 7}, {'c', 7}, {'a', 8}, {'b', 8}, {'c', 8}};
  CHECK(calls == expected);
}

TEST_CASE("emit with no receivers does nothing") {
  fiberpool::signal<int> sig;
  CHECK_NOTHROW(sig.emit(1));

  int calls = 0;
  auto c = sig.connect([&](int) { ++calls; });
  c.disconnect();
  CHECK_NOTHROW(sig.emit(2));
  CHECK(calls == 0);
  CHECK(sig.receivers() == 0);
}

TEST_CASE("receivers() counts the connected receivers") {
  fiberpool::signal<int> sig;
  CHECK(sig.receivers() == 0);
  auto a = sig.connect([](int) {});
  CHECK(sig.receivers() == 1);
  auto b = sig.connect([](int) {});
  CHECK(sig.receivers() == 2);
  a.disconnect();
  CHECK(sig.receivers() == 1);
  a.disconnect();  // a second disconnect changes nothing
  CHECK(sig.receivers() == 1);
  b.disconnect();
  CHECK(sig.receivers() == 0);
}

TEST_CASE("disconnect stops calls to that receiver only and connected() turns false") {
  fiberpool::signal<int> sig;
  int a_calls = 0;
  int b_calls = 0;
  auto a = sig.connect([&](int) { ++a_calls; });
  auto b = sig.connect([&](int) { ++b_calls; });
  auto a_copy = a;
  CHECK(a.connected());
  CHECK(a_copy.connected());

  sig.emit(1);
  a_copy.disconnect();  // from any copy: ends it for all
  CHECK_FALSE(a.connected());
  CHECK_FALSE(a_copy.connected());
  CHECK(b.connected());
  sig.emit(2);

  CHECK(a_calls == 1);
  CHECK(b_calls == 2);
  CHECK_FALSE(fiberpool::connection{}.connected());
}

TEST_CASE("a receiver may disconnect itself and others while emit runs") {
  fiberpool::signal<int> sig;
  int first = 0;
  int second = 0;
  int third = 0;
  fiberpool::connection c1;
  fiberpool::connection c3;
  c1 = sig.connect([&](int) {
    ++first;
    c1.disconnect();
    c3.disconnect();
  });
  sig.connect([&](int) { ++second; });
  c3 = sig.connect([&](int) { ++third; });

  sig.emit(1);
  sig.emit(2);
  sig.emit(3);

  CHECK(first == 1);
  CHECK(second == 3);
  CHECK(third <= 1);  // whether the running emit still calls it is not specified; later ones don't
  CHECK(sig.receivers() == 1);
  CHECK_FALSE(c1.connected());
  CHECK_FALSE(c3.connected());
}

TEST_CASE("a receiver connected during emit is called from the next emit on") {
  fiberpool::signal<int> sig;
  std::vector<int> late_calls;
  fiberpool::connection late;
  bool connected_once = false;
  sig.connect([&](int) {
    if (!connected_once) {
      connected_once = true;
      late = sig.connect([&](int v) { late_calls.push_back(v); });
    }
  });

  sig.emit(1);
  CHECK(late_calls.empty());
  CHECK(sig.receivers() == 2);
  sig.emit(2);
  sig.emit(3);
  CHECK(late_calls == std::vector<int>{2, 3});
}

TEST_CASE("scoped_connection disconnects when it is destroyed and follows moves") {
  fiberpool::signal<int> sig;
  int calls = 0;
  {
    fiberpool::scoped_connection outer;
    {
      fiberpool::scoped_connection inner = sig.connect([&](int) { ++calls; });
      CHECK(inner.connected());
      sig.emit(1);
      outer = std::move(inner);  // the move keeps the receiver connected
    }
    CHECK(outer.connected());
    sig.emit(2);
    CHECK(calls == 2);
  }
  CHECK(sig.receivers() == 0);
  sig.emit(3);
  CHECK(calls == 2);

  // release() hands the connection back, so destruction no longer disconnects.
  fiberpool::connection kept;
  {
    fiberpool::scoped_connection sc = sig.connect([&](int) { ++calls; });
    kept = sc.release();
  }
  CHECK(kept.connected());
  sig.emit(4);
  CHECK(calls == 3);
  kept.disconnect();
}

namespace {
struct not_a_std_exception {
  int code;
};
}  // namespace

TEST_CASE("a throwing receiver is logged and the others are still called") {
  fiberpool::signal<int> sig;
  log_capture cap;
  sig.set_logger(cap.logger());
  std::vector<char> called;

  SUBCASE("std::exception") {
    sig.connect([&](int) { called.push_back('a'); });
    sig.connect([&](int) {
      called.push_back('b');
      throw std::runtime_error("receiver-boom");
    });
    sig.connect([&](int) { called.push_back('c'); });
    CHECK_NOTHROW(sig.emit(1));
    CHECK(called == std::vector<char>{'a', 'b', 'c'});
    CHECK(cap.text().find("receiver-boom") != std::string::npos);
  }
  SUBCASE("an exception not derived from std::exception") {
    sig.connect([&](int) {
      called.push_back('a');
      throw not_a_std_exception{42};
    });
    sig.connect([&](int) { called.push_back('b'); });
    CHECK_NOTHROW(sig.emit(1));
    CHECK(called == std::vector<char>{'a', 'b'});
    CHECK_FALSE(cap.text().empty());
  }
  SUBCASE("every throwing receiver is logged") {
    sig.connect([](int) { throw std::runtime_error("first-boom"); });
    sig.connect([](int) { throw std::runtime_error("second-boom"); });
    sig.connect([&](int) { called.push_back('c'); });
    CHECK_NOTHROW(sig.emit(1));
    CHECK(called == std::vector<char>{'c'});
    auto text = cap.text();
    CHECK(text.find("first-boom") != std::string::npos);
    CHECK(text.find("second-boom") != std::string::npos);
  }
}

TEST_CASE("connect with an empty receiver throws std::invalid_argument") {
  fiberpool::signal<int> sig;
  CHECK_THROWS_AS(sig.connect(std::function<void(int)>{}), std::invalid_argument);
  CHECK(sig.receivers() == 0);
}

TEST_CASE("concurrent connect, disconnect and emit from four threads keep every count") {
  constexpr int threads = 4;
  constexpr int rounds = 2000;
  fiberpool::signal<int> sig;
  std::atomic<int> permanent_calls{0};
  auto permanent = sig.connect([&](int) { permanent_calls.fetch_add(1, std::memory_order_relaxed); });

  std::atomic<int> own_calls[threads] = {};
  std::atomic<int> missed_own{0};
  {
    std::vector<std::jthread> workers;
    for (int t = 0; t < threads; ++t) {
      workers.emplace_back([&, t] {
        for (int i = 0; i < rounds; ++i) {
          int before = own_calls[t].load();
          auto c = sig.connect([&, t](int) { own_calls[t].fetch_add(1); });
          sig.emit(t);
          // connect() returned before this emit started, so the emit must have called it.
          if (own_calls[t].load() == before) missed_own.fetch_add(1);
          c.disconnect();
        }
      });
    }
  }

  CHECK(permanent_calls.load() == threads * rounds);
  CHECK(missed_own.load() == 0);
  for (auto& n : own_calls) CHECK(n.load() >= rounds);
  CHECK(sig.receivers() == 1);
  CHECK(permanent.connected());

  int after = 0;
  for (auto& n : own_calls) after += n.load();
  sig.emit(0);
  int after_last_emit = 0;
  for (auto& n : own_calls) after_last_emit += n.load();
  CHECK(after_last_emit == after);  // every temporary receiver is gone
  CHECK(permanent_calls.load() == threads * rounds + 1);
}

TEST_CASE("a pool emits pool_started, pool_preshutdown and pool_postshutdown in that order") {
  with_threads([](std::size_t threads) {
    std::mutex mu;
    std::vector<std::string> order;
    std::vector<fiberpool::task_pool*> seen;
    auto record = [&](std::string what, fiberpool::task_pool* p = nullptr) {
      std::lock_guard lk(mu);
      order.push_back(std::move(what));
      if (p) seen.push_back(p);
    };
    fiberpool::event release_job;
    {
      fiberpool::task_pool pool(pool_opts(threads));
      auto& bus = pool.signals();
      bus.pool_started.connect([&](fiberpool::task_pool& p) {
        record("started", &p);
      });
      bus.pool_preshutdown.connect([&](fiberpool::task_pool& p) {
        record("preshutdown", &p);
        release_job.set();  // stop() waits for the job only after this signal
      });
      bus.pool_postshutdown.connect([&](fiberpool::task_pool& p) {
        record("postshutdown", &p);
      });

      auto j = pool.apply([&] {
        release_job.wait();
        record("job ended");
      });
      CHECK(order.empty());
      pool.start();
      pool.stop();
      CHECK(j.state() == fiberpool::job_state::succeeded);
      CHECK(pool.state() == fiberpool::pool_state::stopped);
      for (auto* p : seen) CHECK(p == &pool);
    }
    CHECK(order == std::vector<std::string>{"started", "preshutdown", "job ended", "postshutdown"});
    CHECK(seen.size() == 3);
  });
}

TEST_CASE("a throwing lifecycle receiver is logged through the pool logger and the pool goes on") {
  with_threads([](std::size_t threads) {
    log_capture cap;
    auto opts = pool_opts(threads);
    opts.logger = cap.logger();
    fiberpool::task_pool pool(std::move(opts));
    bool later_receiver_called = false;
    pool.signals().pool_started.connect(
        [](fiberpool::task_pool&) { throw std::runtime_error("started-receiver-boom"); });
    pool.signals().pool_started.connect([&](fiberpool::task_pool&) { later_receiver_called = true; });

    CHECK_NOTHROW(pool.start());
    CHECK(later_receiver_called);
    CHECK(pool.state() == fiberpool::pool_state::running);
    CHECK(pool.apply([] { return 5; }).get() == 5);
    CHECK(cap.text().find("started-receiver-boom") != std::string::npos);
  });
}
