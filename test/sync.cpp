// event, semaphore and channel: waits from jobs, fibers and threads, FIFO hand-off, close(), and
// every wait as a cancellation point.
#include <atomic>
#include <future>
#include <memory>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <thread>
#include <vector>

#include <boost/fiber/operations.hpp>

#include "support.hpp"

using namespace fiberpool_test;
using fiberpool::job_state;

namespace {

template <class T>
bool ready(std::future<T>& f) {
  return f.wait_for(patience) == std::future_status::ready;
}

// check_wait_is_killable: a job blocked in wait() is ended by terminate_job(): it ends terminated,
// get() throws job_terminated and the wait never returns normally. unblock() frees a wait that
// ignored the kill, so a broken library fails the test instead of hanging it.
template <class Wait, class Unblock>
void check_wait_is_killable(std::size_t threads, Wait wait, Unblock unblock) {
  std::atomic<bool> entered{false};
  std::atomic<bool> returned{false};
  fiberpool::task_pool pool(pool_opts(threads));
  pool.start();
  auto j = pool.apply([&] {
    entered = true;
    wait();
    returned = true;
  });
  REQUIRE(eventually([&] { return entered.load(); }));
  // A correct wait holds the job; the pause also lets it suspend before the kill arrives.
  CHECK_FALSE(j.wait_for(std::chrono::milliseconds(10)));
  CHECK(pool.terminate_job(j.id()));
  bool ended = j.wait_for(patience);
  CHECK_MESSAGE(ended, "the kill did not end a job blocked in the wait");
  if (!ended) {
    unblock();
    j.wait_for(patience);
  }
  CHECK(j.state() == job_state::terminated);
  CHECK_THROWS_AS(j.get(), fiberpool::job_terminated);
  CHECK_FALSE(returned.load());
  CHECK_FALSE(pool.terminate_job(j.id()));  // already ended
}

}  // namespace

// ---------------------------------------------------------------------------------------------
// event

TEST_CASE("an event starts clear, set() and clear() toggle it, and a set event does not block") {
  fiberpool::event e;
  CHECK_FALSE(e.is_set());
  CHECK_FALSE(e.wait_for(std::chrono::milliseconds(1)));
  e.set();
  CHECK(e.is_set());
  e.wait();  // returns at once
  CHECK(e.wait_for(std::chrono::milliseconds(0)));
  e.set();  // setting twice keeps it set
  CHECK(e.is_set());
  e.clear();
  CHECK_FALSE(e.is_set());
  CHECK_FALSE(e.wait_for(std::chrono::milliseconds(1)));
}

TEST_CASE("event::wait on a thread returns once another thread sets the event") {
  fiberpool::event e;
  std::promise<void> woke;
  auto f = woke.get_future();
  std::jthread waiter([&] {
    e.wait();
    woke.set_value();
  });
  e.set();
  CHECK(ready(f));
}

TEST_CASE("event::wait_for is true when set within the time and false when not") {
  SUBCASE("on plain threads") {
    fiberpool::event e;
    CHECK_FALSE(e.wait_for(std::chrono::milliseconds(10)));
    std::jthread setter([&] { e.set(); });
    CHECK(e.wait_for(patience));
  }
  SUBCASE("in jobs") {
    with_threads([](std::size_t threads) {
      fiberpool::event e;
      fiberpool::task_pool pool(pool_opts(threads));
      pool.start();
      CHECK_FALSE(pool.apply([&] { return e.wait_for(std::chrono::milliseconds(10)); }).get());
      auto waiter = pool.apply([&] { return e.wait_for(patience); });
      e.set();
      CHECK(waiter.get());
    });
  }
}

TEST_CASE("one set() wakes every waiter: jobs, runtime fibers and plain threads") {
  with_threads([](std::size_t threads) {
    constexpr int jobs = 4;
    constexpr int fibers = 2;
    constexpr int plain_threads = 2;
    fiberpool::event e;
    std::atomic<int> entered{0};
    std::atomic<int> woken{0};
    fiberpool::event fibers_done;
    std::atomic<int> fibers_left{fibers};
    {
      std::vector<std::jthread> waiters;
      for (int i = 0; i < plain_threads; ++i)
        waiters.emplace_back([&] {
          entered.fetch_add(1);
          e.wait();
          woken.fetch_add(1);
        });
      fiberpool::task_pool pool(pool_opts(threads));
      pool.start();
      std::vector<fiberpool::job<void>> js;
      for (int i = 0; i < jobs; ++i)
        js.push_back(pool.apply([&] {
          entered.fetch_add(1);
          e.wait();
          woken.fetch_add(1);
        }));
      for (int i = 0; i < fibers; ++i)
        pool.runtime().post([&] {
          entered.fetch_add(1);
          e.wait();
          woken.fetch_add(1);
          if (fibers_left.fetch_sub(1) == 1) fibers_done.set();
        });
      REQUIRE(eventually([&] { return entered.load() == jobs + fibers + plain_threads; }));
      CHECK(woken.load() == 0);
      e.set();
      for (auto& j : js) CHECK(j.wait_for(patience));
      CHECK(fibers_done.wait_for(patience));
    }
    CHECK(woken.load() == jobs + fibers + plain_threads);
  });
}

TEST_CASE("set() from a foreign thread wakes a job waiting on the event") {
  with_threads([](std::size_t threads) {
    fiberpool::event e;
    std::atomic<bool> entered{false};
    fiberpool::task_pool pool(pool_opts(threads));
    pool.start();
    auto j = pool.apply([&] {
      entered = true;
      e.wait();
      return 11;
    });
    REQUIRE(eventually([&] { return entered.load(); }));
    std::thread([&] { e.set(); }).join();
    REQUIRE(j.wait_for(patience));
    CHECK(j.get() == 11);
  });
}

// ---------------------------------------------------------------------------------------------
// semaphore

TEST_CASE("a semaphore counts permits through acquire, try_acquire and release(n)") {
  fiberpool::semaphore s(2);
  CHECK(s.available() == 2);
  CHECK(s.try_acquire());
  CHECK(s.try_acquire());
  CHECK_FALSE(s.try_acquire());
  CHECK(s.available() == 0);
  s.release(3);
  CHECK(s.available() == 3);
  s.acquire();
  s.acquire();
  s.acquire();
  CHECK_FALSE(s.try_acquire());
  s.release();
  CHECK(s.available() == 1);
  CHECK(s.try_acquire());
  CHECK_FALSE(s.try_acquire_for(std::chrono::milliseconds(1)));

  fiberpool::semaphore none(0);
  CHECK_FALSE(none.try_acquire());
}

TEST_CASE("a semaphore hands released permits to its waiters in FIFO order, with no barging") {
  // One scheduler thread: a waiter gives the thread back only by suspending in acquire(), so once
  // the driver fiber sees a waiter's mark, that waiter is queued. This fixes the queue order.
  constexpr int waiters = 4;
  fiberpool::semaphore s(0);
  std::mutex mu;
  std::vector<int> order;
  std::atomic<int> queued{0};
  std::promise<bool> all_queued;
  auto fq = all_queued.get_future();
  {
    fiberpool::runtime_options o;
    o.threads = 1;
    fiberpool::runtime rt(o);
    rt.post([&] {
      auto deadline = fiberpool::clock::now() + patience;
      for (int k = 0; k < waiters; ++k) {
        rt.post([&, k] {
          queued.store(k + 1);
          s.acquire();
          std::lock_guard lk(mu);
          order.push_back(k);
        });
        while (queued.load() != k + 1 && fiberpool::clock::now() < deadline)
          boost::this_fiber::yield();
      }
      all_queued.set_value(queued.load() == waiters);
    });
    REQUIRE(ready(fq));
    REQUIRE(fq.get());

    for (int k = 0; k < waiters; ++k) {
      s.release(1);
      CHECK_FALSE(s.try_acquire());  // the permit went to the head waiter
      CHECK(eventually([&] {
        std::lock_guard lk(mu);
        return order.size() == static_cast<std::size_t>(k + 1);
      }));
    }
    CHECK(s.available() == 0);
  }
  CHECK(order == std::vector<int>{0, 1, 2, 3});
  check_no_leaks();
}

TEST_CASE("semaphore waiters on jobs, runtime fibers and plain threads all receive permits") {
  with_threads([](std::size_t threads) {
    fiberpool::semaphore s(0);
    std::atomic<int> entered{0};
    std::atomic<int> acquired{0};
    fiberpool::event fiber_done;
    {
      std::vector<std::jthread> plain;
      for (int i = 0; i < 2; ++i)
        plain.emplace_back([&] {
          entered.fetch_add(1);
          s.acquire();
          acquired.fetch_add(1);
        });
      fiberpool::task_pool pool(pool_opts(threads));
      pool.start();
      std::vector<fiberpool::job<void>> js;
      for (int i = 0; i < 3; ++i)
        js.push_back(pool.apply([&] {
          entered.fetch_add(1);
          s.acquire();
          acquired.fetch_add(1);
        }));
      pool.runtime().post([&] {
        entered.fetch_add(1);
        s.acquire();
        acquired.fetch_add(1);
        fiber_done.set();
      });
      REQUIRE(eventually([&] { return entered.load() == 6; }));

      s.release(2);
      CHECK(eventually([&] { return acquired.load() == 2; }));
      CHECK(acquired.load() == 2);  // two permits, two waiters through
      s.release(4);
      for (auto& j : js) CHECK(j.wait_for(patience));
      CHECK(fiber_done.wait_for(patience));
    }
    CHECK(acquired.load() == 6);
    CHECK(s.available() == 0);
  });
}

TEST_CASE("a semaphore waiter killed by terminate_job takes no permit") {
  with_threads([](std::size_t threads) {
    fiberpool::semaphore s(0);
    std::atomic<bool> victim_entered{false};
    std::atomic<bool> victim_acquired{false};
    fiberpool::task_pool pool(pool_opts(threads));
    pool.start();
    auto victim = pool.apply([&] {
      victim_entered = true;
      s.acquire();
      victim_acquired = true;
    });
    REQUIRE(eventually([&] { return victim_entered.load(); }));
    auto next = pool.apply([&] {
      s.acquire();
      return 2;
    });

    CHECK(pool.terminate_job(victim.id()));
    REQUIRE(victim.wait_for(patience));
    CHECK(victim.state() == job_state::terminated);
    CHECK_THROWS_AS(victim.get(), fiberpool::job_terminated);
    CHECK_FALSE(victim_acquired.load());
    CHECK(s.available() == 0);

    s.release(1);  // goes to the next waiter, not to the dead one
    REQUIRE(next.wait_for(patience));
    CHECK(next.get() == 2);
    CHECK(s.available() == 0);

    // Killed with nobody else waiting: the count is unchanged and the permit stays usable.
    s.release(1);
    auto lone = pool.apply([&] { s.acquire(); s.acquire(); });
    CHECK(eventually([&] { return s.available() == 0; }));  // it took the first permit
    CHECK(pool.terminate_job(lone.id()));
    REQUIRE(lone.wait_for(patience));
    CHECK(lone.state() == job_state::terminated);
    CHECK(s.available() == 0);
    s.release(1);
    CHECK(s.available() == 1);
    CHECK(s.try_acquire());
  });
}

TEST_CASE("a permit released while its waiter is being killed is never lost") {
  with_threads([](std::size_t threads) {
    fiberpool::semaphore s(0);
    fiberpool::task_pool pool(pool_opts(threads));
    pool.start();
    for (int round = 0; round < 50; ++round) {
      CAPTURE(round);
      std::atomic<bool> entered{false};
      std::atomic<bool> got{false};
      auto w = pool.apply([&] {
        entered = true;
        s.acquire();
        got = true;
      });
      REQUIRE(eventually([&] { return entered.load(); }));
      std::thread releaser([&] { s.release(1); });
      pool.terminate_job(w.id());
      releaser.join();
      REQUIRE(w.wait_for(patience));
      // Either the waiter holds the permit, or the semaphore still does.
      CHECK(s.available() == (got.load() ? 0u : 1u));
      while (s.try_acquire()) {
      }
    }
  });
}

// ---------------------------------------------------------------------------------------------
// channel

TEST_CASE("a channel of capacity 0 throws std::invalid_argument") {
  CHECK_THROWS_AS(fiberpool::channel<int>(0), std::invalid_argument);
  CHECK_NOTHROW(fiberpool::channel<int>(1));
}

TEST_CASE("a channel delivers items in FIFO order up to its capacity") {
  fiberpool::channel<int> ch(3);
  CHECK(ch.capacity() == 3);
  ch.push(1);
  ch.push(2);
  ch.push(3);
  CHECK(ch.size() == 3);
  int extra = 4;
  CHECK_FALSE(ch.try_push(extra));
  CHECK(ch.pop() == 1);
  CHECK(ch.try_push(extra));
  CHECK(ch.pop() == 2);
  CHECK(ch.pop() == 3);
  CHECK(ch.pop() == 4);
  CHECK(ch.size() == 0);
}

TEST_CASE("push waits while the channel is full") {
  with_threads([](std::size_t threads) {
    fiberpool::channel<int> ch(1);
    fiberpool::task_pool pool(pool_opts(threads));
    pool.start();
    ch.push(1);
    auto pusher = pool.apply([&] { ch.push(2); });
    CHECK_FALSE(pusher.wait_for(std::chrono::milliseconds(20)));  // held while full
    CHECK(ch.size() == 1);
    CHECK(ch.pop() == 1);  // makes room
    REQUIRE(pusher.wait_for(patience));
    CHECK_NOTHROW(pusher.get());
    CHECK(ch.pop() == 2);

    // A plain thread pushing into a channel a job drains.
    ch.push(3);
    std::promise<void> pushed;
    auto f = pushed.get_future();
    std::jthread t([&] {
      ch.push(4);
      pushed.set_value();
    });
    auto drainer = pool.apply([&] { return std::vector<int>{*ch.pop(), *ch.pop()}; });
    CHECK(ready(f));
    CHECK(drainer.get() == std::vector<int>{3, 4});
  });
}

TEST_CASE("pop waits while the channel is empty") {
  with_threads([](std::size_t threads) {
    fiberpool::channel<int> ch(2);
    fiberpool::task_pool pool(pool_opts(threads));
    pool.start();
    auto popper = pool.apply([&] { return ch.pop(); });
    CHECK_FALSE(popper.wait_for(std::chrono::milliseconds(20)));  // held while empty
    ch.push(7);
    REQUIRE(popper.wait_for(patience));
    CHECK(popper.get() == std::optional<int>(7));

    // A plain thread popping what a job pushes.
    std::promise<std::optional<int>> popped;
    auto f = popped.get_future();
    std::jthread t([&] { popped.set_value(ch.pop()); });
    pool.apply([&] { ch.push(8); }).get();
    REQUIRE(ready(f));
    CHECK(f.get() == std::optional<int>(8));
  });
}

TEST_CASE("close() wakes every waiter: pushers get channel_closed, poppers drain then get nullopt") {
  with_threads([](std::size_t threads) {
    fiberpool::channel<int> full(1);
    fiberpool::channel<int> empty(1);
    full.push(1);
    std::atomic<int> entered{0};
    std::promise<bool> thread_push_closed;
    std::promise<std::optional<int>> thread_pop;
    auto f_push = thread_push_closed.get_future();
    auto f_pop = thread_pop.get_future();
    {
      std::jthread pusher_thread([&] {
        entered.fetch_add(1);
        try {
          full.push(2);
          thread_push_closed.set_value(false);
        } catch (const fiberpool::channel_closed&) {
          thread_push_closed.set_value(true);
        }
      });
      std::jthread popper_thread([&] {
        entered.fetch_add(1);
        thread_pop.set_value(empty.pop());
      });
      fiberpool::task_pool pool(pool_opts(threads));
      pool.start();
      std::vector<fiberpool::job<void>> pushers;
      std::vector<fiberpool::job<std::optional<int>>> poppers;
      for (int i = 0; i < 2; ++i) {
        pushers.push_back(pool.apply([&, i] {
          entered.fetch_add(1);
          full.push(10 + i);
        }));
        poppers.push_back(pool.apply([&] {
          entered.fetch_add(1);
          return empty.pop();
        }));
      }
      REQUIRE(eventually([&] { return entered.load() == 6; }));
      CHECK_FALSE(full.is_closed());
      full.close();
      empty.close();
      CHECK(full.is_closed());

      for (auto& j : pushers) {
        REQUIRE(j.wait_for(patience));
        CHECK(j.state() == job_state::failed);
        CHECK_THROWS_AS(j.get(), fiberpool::channel_closed);
      }
      for (auto& j : poppers) {
        REQUIRE(j.wait_for(patience));
        CHECK(j.get() == std::nullopt);
      }
      REQUIRE(ready(f_push));
      CHECK(f_push.get());
      REQUIRE(ready(f_pop));
      CHECK(f_pop.get() == std::nullopt);
    }
    // What was queued before close() is still delivered, then the end.
    CHECK(full.pop() == std::optional<int>(1));
    CHECK(full.pop() == std::nullopt);
    CHECK_THROWS_AS(full.push(3), fiberpool::channel_closed);
    int v = 4;
    CHECK_FALSE(full.try_push(v));
    CHECK_NOTHROW(full.close());  // idempotent
    CHECK(empty.pop() == std::nullopt);
  });
}

TEST_CASE("a closed channel hands its remaining items to poppers before nullopt") {
  fiberpool::channel<int> ch(4);
  ch.push(1);
  ch.push(2);
  ch.close();
  CHECK_THROWS_AS(ch.push(3), fiberpool::channel_closed);
  CHECK(ch.pop() == std::optional<int>(1));
  CHECK(ch.pop() == std::optional<int>(2));
  CHECK(ch.pop() == std::nullopt);
  CHECK(ch.pop() == std::nullopt);
}

TEST_CASE("four producer jobs and four consumer jobs transfer every item exactly once") {
  with_threads([](std::size_t threads) {
    constexpr int producers = 4;
    constexpr int consumers = 4;
    constexpr int per_producer = 2500;
    constexpr int total = producers * per_producer;
    fiberpool::channel<int> ch(8);
    std::vector<std::atomic<int>> seen(total);
    std::atomic<long long> sum{0};
    fiberpool::task_pool pool(pool_opts(threads));
    pool.start();

    std::vector<fiberpool::job<int>> consumer_jobs;
    for (int c = 0; c < consumers; ++c)
      consumer_jobs.push_back(pool.apply([&] {
        int count = 0;
        while (auto v = ch.pop()) {
          seen[*v].fetch_add(1);
          sum.fetch_add(*v);
          ++count;
        }
        return count;
      }));
    std::vector<fiberpool::job<void>> producer_jobs;
    for (int p = 0; p < producers; ++p)
      producer_jobs.push_back(pool.apply([&, p] {
        for (int i = 0; i < per_producer; ++i) ch.push(p * per_producer + i);
      }));

    for (auto& j : producer_jobs) {
      REQUIRE(j.wait_for(patience));
      CHECK_NOTHROW(j.get());
    }
    ch.close();
    int received = 0;
    for (auto& j : consumer_jobs) {
      REQUIRE(j.wait_for(patience));
      received += j.get();
    }
    CHECK(received == total);
    CHECK(sum.load() == static_cast<long long>(total) * (total - 1) / 2);
    int wrong = 0;
    for (auto& n : seen)
      if (n.load() != 1) ++wrong;
    CHECK(wrong == 0);
  });
}

TEST_CASE("a channel carries move-only values") {
  fiberpool::channel<std::unique_ptr<int>> local(2);
  local.push(std::make_unique<int>(5));
  auto got = local.pop();
  REQUIRE(got.has_value());
  REQUIRE(*got != nullptr);
  CHECK(**got == 5);

  with_threads([](std::size_t threads) {
    fiberpool::channel<std::unique_ptr<int>> ch(2);
    fiberpool::task_pool pool(pool_opts(threads));
    pool.start();
    auto producer = pool.apply([&] {
      for (int i = 0; i < 10; ++i) ch.push(std::make_unique<int>(i));
      ch.close();
    });
    std::vector<int> values;
    while (auto p = ch.pop()) values.push_back(**p);
    CHECK_NOTHROW(producer.get());
    CHECK(values == std::vector<int>{0, 1, 2, 3, 4, 5, 6, 7, 8, 9});
  });
}

// ---------------------------------------------------------------------------------------------
// cancellation points

TEST_CASE("a job blocked in event::wait or event::wait_for is ended by terminate_job") {
  with_threads([](std::size_t threads) {
    fiberpool::event e;
    check_wait_is_killable(threads, [&] { e.wait(); }, [&] { e.set(); });
    check_wait_is_killable(threads, [&] { e.wait_for(std::chrono::hours(1)); }, [&] { e.set(); });
    CHECK_FALSE(e.is_set());
  });
}

TEST_CASE("a job blocked in semaphore::acquire is ended by terminate_job and takes no permit") {
  with_threads([](std::size_t threads) {
    fiberpool::semaphore s(0);
    check_wait_is_killable(threads, [&] { s.acquire(); }, [&] { s.release(1); });
    CHECK(s.available() == 0);
    s.release(1);
    CHECK(s.try_acquire());
  });
}

TEST_CASE("a job blocked in channel::push is ended by terminate_job and adds nothing") {
  with_threads([](std::size_t threads) {
    fiberpool::channel<int> ch(1);
    ch.push(1);
    check_wait_is_killable(threads, [&] { ch.push(2); }, [&] { ch.pop(); });
    CHECK(ch.size() == 1);
    CHECK(ch.pop() == std::optional<int>(1));
    int v = 3;
    CHECK(ch.try_push(v));  // the channel still works
  });
}

TEST_CASE("a job blocked in channel::pop is ended by terminate_job and takes nothing") {
  with_threads([](std::size_t threads) {
    fiberpool::channel<int> ch(1);
    check_wait_is_killable(threads, [&] { ch.pop(); }, [&] { ch.push(0); });
    ch.push(9);
    CHECK(ch.pop() == std::optional<int>(9));
  });
}
