// pool_maps: map / map_unordered / starmap and result_stream: order, laziness and the window,
// per-item errors, groups of maps, maps across threads, and maps through lock, close, stop,
// gather_and_close, cancel_group and the pool's end.
#include <atomic>
#include <cstddef>
#include <limits>
#include <memory>
#include <mutex>
#include <numeric>
#include <optional>
#include <ranges>
#include <set>
#include <stdexcept>
#include <string>
#include <thread>
#include <tuple>
#include <utility>
#include <vector>

#include "support.hpp"

using namespace fiberpool;
using namespace fiberpool_test;

namespace {

// drain: every result of a stream, in the order it hands them out.
template <class R>
std::vector<R> drain(result_stream<R>& s) {
  std::vector<R> out;
  while (auto v = s.next()) out.push_back(std::move(*v));
  return out;
}

// counted: a lazily generated input 0, 1, 2, ... (endless without a bound) that counts the
// elements pulled from it.
auto counted(std::atomic<int>& pulled, int bound = -1) {
  auto gen = [&pulled](int i) {
    pulled.fetch_add(1);
    return i;
  };
  if (bound < 0) return std::views::iota(0, std::numeric_limits<int>::max()) | std::views::transform(gen);
  return std::views::iota(0, bound) | std::views::transform(gen);
}

struct item_error : std::runtime_error {
  explicit item_error(int i) : std::runtime_error("item " + std::to_string(i)), item(i) {}
  int item;
};

// throwing_range: an input range whose element `at` cannot be produced.
struct throwing_range {
  int at;
  struct iterator {
    using value_type = int;
    using difference_type = std::ptrdiff_t;
    int i = 0;
    int at = 0;
    int operator*() const {
      if (i == at) throw std::length_error("the input ran dry");
      return i;
    }
    iterator& operator++() {
      ++i;
      return *this;
    }
    void operator++(int) { ++i; }
    bool operator==(const iterator& o) const { return i == o.i; }
  };
  iterator begin() const { return {0, at}; }
  iterator end() const { return {at + 10, at}; }
};

// channel_range: the items of a channel as an input range; advancing it waits in pop().
struct channel_range {
  channel<int>* source;
  struct iterator {
    using value_type = int;
    using difference_type = std::ptrdiff_t;
    channel<int>* source = nullptr;
    std::optional<int> current;
    int operator*() const { return *current; }
    iterator& operator++() {
      current = source->pop();
      return *this;
    }
    void operator++(int) { ++*this; }
    bool operator==(std::default_sentinel_t) const { return !current; }
  };
  iterator begin() const { return ++iterator{source, std::nullopt}; }
  std::default_sentinel_t end() const { return {}; }
};

}  // namespace

TEST_CASE("map returns f of every element in input order, whatever order the jobs end in") {
  with_threads([](std::size_t threads) {
    task_pool pool(pool_opts(threads));
    pool.start();
    std::vector<std::unique_ptr<event>> gates;
    for (int i = 0; i < 4; ++i) gates.push_back(std::make_unique<event>());
    semaphore ended(0);
    job_options o;
    o.on_ended = [&](job_id, job_state, std::exception_ptr) { ended.release(); };
    auto stream = pool.map([&](int i) { gates[i]->wait(); return i * 10; }, std::vector<int>{0, 1, 2, 3}, 4, o);
    // The jobs end last to first, each before the next is let go.
    for (int i = 3; i >= 0; --i) {
      gates[i]->set();
      ended.acquire();
    }
    CHECK(drain(stream) == std::vector<int>{0, 10, 20, 30});
    CHECK(stream.ordered());
  });
}

TEST_CASE("map_unordered returns results in the order the jobs end") {
  with_threads([](std::size_t threads) {
    task_pool pool(pool_opts(threads));
    pool.start();
    std::vector<std::unique_ptr<event>> gates;
    for (int i = 0; i < 4; ++i) gates.push_back(std::make_unique<event>());
    auto stream = pool.map_unordered([&](int i) { gates[i]->wait(); return i; }, std::vector<int>{0, 1, 2, 3}, 4);
    CHECK_FALSE(stream.ordered());
    for (int i : {2, 0, 3, 1}) {
      gates[i]->set();
      auto o = stream.next_outcome();
      REQUIRE(o);
      CHECK(o->value() == i);
      CHECK(o->index() == static_cast<std::uint64_t>(i));
    }
    CHECK_FALSE(stream.next());
  });
}

TEST_CASE("starmap applies f to each tuple with std::apply") {
  with_threads([](std::size_t threads) {
    task_pool pool(pool_opts(threads));
    pool.start();
    std::vector<std::tuple<int, int, std::string>> in{{1, 2, "a"}, {3, 4, "b"}, {5, 6, "c"}};
    auto stream = pool.starmap([](int a, int b, const std::string& s) { return s + std::to_string(a + b); }, in, 2);
    CHECK(drain(stream) == std::vector<std::string>{"a3", "b7", "c11"});
    auto pairs = pool.starmap([](int a, int b) { return a * b; }, std::vector<std::pair<int, int>>{{2, 3}, {4, 5}});
    CHECK(drain(pairs) == std::vector<int>{6, 20});
  });
}

TEST_CASE("map pulls its input lazily: never more than num_concurrent items pulled and not yet read") {
  with_threads([](std::size_t threads) {
    constexpr int window = 3;
    task_pool pool(pool_opts(threads));
    pool.start();
    std::atomic<int> pulled{0};
    auto stream = pool.map([](int i) { return i; }, counted(pulled), window);
    for (int read = 0; read < 50; ++read) {
      auto v = stream.next();
      REQUIRE(v);
      CHECK(*v == read);
      // The map may have refilled the window, never more.
      CHECK(pulled.load() <= read + 1 + window);
    }
    settle();  // room for a broken map to pull ahead
    CHECK(pulled.load() <= 50 + window);
    CHECK(eventually([&] { return pulled.load() == 50 + window; }));  // and it does refill the window
    pool.cancel_group(stream.group());
  });
}

TEST_CASE("map_unordered holds the same window") {
  with_threads([](std::size_t threads) {
    constexpr int window = 4;
    task_pool pool(pool_opts(threads));
    pool.start();
    std::atomic<int> pulled{0};
    auto stream = pool.map_unordered([](int i) { return i; }, counted(pulled, 200), window);
    std::set<int> seen;
    while (auto o = stream.next_outcome()) {
      seen.insert(o->value());
      CHECK(pulled.load() <= static_cast<int>(seen.size()) + window);
    }
    CHECK(seen.size() == 200);
  });
}

TEST_CASE("map runs at most num_concurrent of its jobs at once") {
  with_threads([](std::size_t threads) {
    constexpr int window = 3;
    task_pool pool(pool_opts(threads));
    pool.start();
    std::atomic<int> running{0}, most{0};
    auto stream = pool.map_unordered(
        [&](int i) {
          int now = running.fetch_add(1) + 1;
          for (int seen = most.load(); now > seen && !most.compare_exchange_weak(seen, now);) {}
          for (int k = 0; k < 5; ++k) this_job::yield();
          running.fetch_sub(1);
          return i;
        },
        std::views::iota(0, 60), window);
    // Nobody reads until the end: the window is what holds the map back, not the reader.
    std::vector<int> got;
    while (auto v = stream.next()) got.push_back(*v);
    CHECK(got.size() == 60);
    CHECK(most.load() >= 1);
    CHECK(most.load() <= window);
  });
}

TEST_CASE("an item's exception is rethrown for that item only and the stream goes on") {
  with_threads([](std::size_t threads) {
    task_pool pool(pool_opts(threads));
    pool.start();
    auto f = [](int i) {
      if (i == 2 || i == 4) throw item_error(i);
      return i;
    };
    auto stream = pool.map(f, std::views::iota(0, 6), 2);
    CHECK(stream.next() == 0);
    CHECK(stream.next() == 1);
    CHECK_THROWS_AS(stream.next(), item_error);
    CHECK(stream.next() == 3);
    CHECK_THROWS_AS(stream.next(), item_error);
    CHECK(stream.next() == 5);
    CHECK_FALSE(stream.next());
    CHECK_FALSE(stream.next());  // and stays at its end

    // The range interface: outcome::value() rethrows; the outcome says which item and job.
    auto again = pool.map(f, std::views::iota(0, 6), 3);
    int values = 0, errors = 0;
    for (outcome<int>& o : again) {
      CHECK(o.id() != 0);
      if (o.index() == 2 || o.index() == 4) {
        CHECK_FALSE(o.has_value());
        CHECK(o.error());
        try {
          o.value();
          FAIL("value() of a failed item returned");
        } catch (const item_error& e) {
          CHECK(e.item == static_cast<int>(o.index()));
        }
        ++errors;
      } else {
        CHECK(o.value() == static_cast<int>(o.index()));
        ++values;
      }
    }
    CHECK(values == 4);
    CHECK(errors == 2);
  });
}

TEST_CASE("a map of a void function reports each item, and its failures") {
  with_threads([](std::size_t threads) {
    task_pool pool(pool_opts(threads));
    pool.start();
    std::atomic<int> sum{0};
    auto stream = pool.map([&](int i) {
      if (i == 1) throw item_error(i);
      sum.fetch_add(i);
    }, std::vector<int>{5, 1, 7}, 2);
    CHECK(stream.next());
    CHECK_THROWS_AS(stream.next(), item_error);
    CHECK(stream.next());
    CHECK_FALSE(stream.next());
    CHECK(sum.load() == 12);
  });
}

TEST_CASE("map results may be move-only") {
  with_threads([](std::size_t threads) {
    task_pool pool(pool_opts(threads));
    pool.start();
    auto stream = pool.map([](int i) { return std::make_unique<int>(i); }, std::views::iota(0, 3), 2);
    for (int i = 0; i < 3; ++i) {
      auto p = stream.next();
      REQUIRE(p);
      CHECK(**p == i);
    }
  });
}

TEST_CASE("cancelling one item's job is that item's outcome; the map goes on") {
  with_threads([](std::size_t threads) {
    task_pool pool(pool_opts(threads));
    pool.start();
    event gate, never;
    semaphore started(0);
    auto stream = pool.map([&](int i) {
      started.release();
      if (i == 1) never.wait();
      gate.wait();
      return i;
    }, std::views::iota(0, 5), 3);
    for (int i = 0; i < 3; ++i) started.acquire();
    auto ids = pool.group_ids(stream.group());
    REQUIRE(ids.size() == 3);
    pool.cancel({ids[1]});  // ids ascend in input order: item 1's job
    gate.set();
    CHECK(stream.next() == 0);
    CHECK_THROWS_AS(stream.next(), job_terminated);
    CHECK(stream.next() == 2);
    CHECK(stream.next() == 3);
    CHECK(stream.next() == 4);
    CHECK_FALSE(stream.next());
  });
}

TEST_CASE("the input range's exception is the last outcome, after the items before it") {
  with_threads([](std::size_t threads) {
    task_pool pool(pool_opts(threads));
    pool.start();
    auto stream = pool.map([](int i) { return i; }, throwing_range{3}, 2);
    CHECK(stream.next() == 0);
    CHECK(stream.next() == 1);
    CHECK(stream.next() == 2);
    auto o = stream.next_outcome();
    REQUIRE(o);
    CHECK(o->index() == 3);
    CHECK(o->id() == 0);
    CHECK_THROWS_AS(o->value(), std::length_error);
    CHECK_FALSE(stream.next());
    CHECK_FALSE(stream.stopped());
  });
}

TEST_CASE("an item apply() refuses is that item's outcome and the map goes on") {
  with_threads([](std::size_t threads) {
    pool_options o = pool_opts(threads, 0);  // nothing runs: every item would queue
    o.max_queued = 0;
    o.on_overflow = overflow::reject;
    task_pool pool(o);
    pool.start();
    auto stream = pool.map([](int i) { return i; }, std::views::iota(0, 4), 2);
    int refused = 0;
    for (auto& out : stream) {
      CHECK(out.id() == 0);
      CHECK_THROWS_AS(out.value(), pool_full);
      ++refused;
    }
    CHECK(refused == 4);
  });
}

TEST_CASE("map refuses num_concurrent 0, a null f, a closed or locked pool, and a group in use") {
  with_threads([](std::size_t threads) {
    task_pool pool(pool_opts(threads));
    pool.start();
    std::vector<int> in{1, 2, 3};
    auto id = [](int i) { return i; };
    CHECK_THROWS_AS(pool.map(id, in, 0), std::invalid_argument);
    CHECK_THROWS_AS(pool.map_unordered(id, in, 0), std::invalid_argument);
    CHECK_THROWS_AS(pool.starmap([](int a, int b) { return a + b; }, std::vector<std::pair<int, int>>{}, 0),
                    std::invalid_argument);
    CHECK_THROWS_AS(pool.map(std::function<int(int)>(), in, 1), std::invalid_argument);

    job_options named;
    named.group = "taken";
    event gate;
    auto holder = pool.apply(named, [&] { gate.wait(); });
    CHECK_THROWS_AS(pool.map(id, in, 1, named), group_exists);
    auto first = pool.map(id, in, 1, [] { job_options o; o.group = "mine"; return o; }());
    job_options same;
    same.group = "mine";
    CHECK_THROWS_AS(pool.map(id, in, 1, same), group_exists);

    pool.lock();
    CHECK_THROWS_AS(pool.map(id, in, 1), pool_locked);
    pool.unlock();
    gate.set();
    CHECK(drain(first) == in);
    pool.close();
    CHECK_THROWS_AS(pool.map(id, in, 1), pool_closed);
    pool.stop();
    CHECK_THROWS_AS(pool.map_unordered(id, in, 1), pool_closed);
  });
}

TEST_CASE("a map's jobs form its group: job_options::group, or a generated map-<n>") {
  with_threads([](std::size_t threads) {
    task_pool pool(pool_opts(threads));
    pool.start();
    event gate;
    semaphore started(0);
    job_options o;
    o.group = "crawl";
    o.name = "fetch";
    auto named = pool.map([&](int i) { started.release(); gate.wait(); return i; }, std::views::iota(0, 10), 2, o);
    CHECK(named.group() == "crawl");
    started.acquire();
    started.acquire();
    auto ids = pool.group_ids("crawl");
    CHECK(ids.size() == 2);
    for (const job_info& j : pool.jobs()) {
      CHECK(j.group == "crawl");
      CHECK(j.name == "fetch");
    }
    auto anonymous = pool.map([](int i) { return i; }, std::vector<int>{1});
    CHECK(anonymous.group().rfind("map-", 0) == 0);
    CHECK(anonymous.group() != named.group());
    CHECK(pool.has_group(anonymous.group()));
    gate.set();
    CHECK(drain(named).size() == 10);
    CHECK(drain(anonymous) == std::vector<int>{1});
  });
}

TEST_CASE("cancel_group stops a map's feeder first, then its jobs, and forgets the group") {
  with_threads([](std::size_t threads) {
    constexpr int window = 3;
    task_pool pool(pool_opts(threads));
    pool.start();
    event never;
    semaphore started(0);
    std::atomic<int> pulled{0};
    auto stream = pool.map([&](int i) { started.release(); never.wait(); return i; }, counted(pulled), window);
    for (int i = 0; i < window; ++i) started.acquire();
    // The window is full of blocked jobs: the feeder waits for room. Killing the jobs makes room,
    // so a feeder stopped after its jobs would pull and apply more items.
    pool.cancel_group(stream.group());
    int ended = 0;
    for (auto& o : stream) {
      CHECK_THROWS_AS(o.value(), job_terminated);
      ++ended;
    }
    CHECK(ended == window);
    CHECK(pulled.load() == window);
    CHECK(stream.stopped());
    CHECK_FALSE(pool.has_group(stream.group()));
    CHECK_THROWS_AS(pool.group_ids(stream.group()), group_not_found);
    CHECK_THROWS_AS(pool.cancel_group(stream.group()), group_not_found);
    // The name is free again.
    job_options o;
    o.group = stream.group();
    auto reuse = pool.map([](int i) { return i; }, std::vector<int>{7}, 1, o);
    CHECK(drain(reuse) == std::vector<int>{7});
  });
}

TEST_CASE("cancel_group stops a feeder that waits inside its input range") {
  with_threads([](std::size_t threads) {
    task_pool pool(pool_opts(threads));
    pool.start();
    channel<int> source(4);
    source.push(1);
    semaphore first_done(0);
    // The input is a channel: the feeder waits in pop() once it is empty.
    auto stream = pool.map_unordered([&](int v) { first_done.release(); return v; }, channel_range{&source}, 2);
    first_done.acquire();
    CHECK(stream.next() == 1);
    pool.cancel_group(stream.group());
    CHECK_FALSE(stream.next());
    CHECK(stream.stopped());
  });
}

TEST_CASE("maps run their jobs across all scheduler threads") {
  with_threads([](std::size_t threads) {
    task_pool pool(pool_opts(threads));
    pool.start();
    std::mutex mu;
    std::set<std::thread::id> seen;
    auto count = [&] {
      std::lock_guard lk(mu);
      return seen.size();
    };
    // Each job waits (yielding) until every thread has run one: jobs left on one thread's queue
    // are taken by the others. The thread is noted at every turn, not only at the start: on a
    // loaded machine one thread may start all eight before another wakes, which then steals them.
    auto stream = pool.map_unordered(
        [&](int i) {
          const auto give_up = clock::now() + patience;
          for (;;) {
            {
              std::lock_guard lk(mu);
              seen.insert(std::this_thread::get_id());
            }
            if (count() >= pool.num_processes() || clock::now() >= give_up) break;
            this_job::yield();
          }
          return i;
        },
        std::views::iota(0, 8), 8);
    CHECK(drain(stream).size() == 8);
    CHECK(count() == threads);
  });
}

namespace {
thread_local std::size_t initialized_as = 0;  // set by on_thread_start: index + 1
}

TEST_CASE("runtime_options::on_thread_start is the per-thread initializer of a map's jobs") {
  with_threads([](std::size_t threads) {
    runtime_options ro;
    ro.threads = threads;
    ro.on_thread_start = [](std::size_t index) { initialized_as = index + 1; };
    {
      runtime rt(ro);
      task_pool pool(rt, pool_opts(threads));
      pool.start();
      auto stream = pool.map_unordered([](int) { return initialized_as; }, std::views::iota(0, 40), 8);
      std::set<std::size_t> indexes;
      while (auto v = stream.next()) {
        CHECK(*v >= 1);
        CHECK(*v <= threads);
        indexes.insert(*v);
      }
      CHECK(!indexes.empty());
      pool.stop();
    }
  });
}

TEST_CASE("lock() refuses apply() but a running map finishes") {
  with_threads([](std::size_t threads) {
    task_pool pool(pool_opts(threads));
    pool.start();
    event gate;
    auto stream = pool.map([&](int i) { gate.wait(); return i; }, std::views::iota(0, 20), 2);
    pool.lock();
    CHECK_THROWS_AS(pool.apply([] {}), pool_locked);
    gate.set();
    std::vector<int> expected(20);
    std::iota(expected.begin(), expected.end(), 0);
    CHECK(drain(stream) == expected);
    CHECK(pool.is_locked());
  });
}

TEST_CASE("close() lets a running map finish, and stop() waits for it though nobody reads the stream") {
  with_threads([](std::size_t threads) {
    task_pool pool(pool_opts(threads));
    pool.start();
    auto stream = pool.map([](int i) { this_job::yield(); return i * 2; }, std::views::iota(0, 30), 3);
    pool.close();
    pool.stop();
    CHECK(pool.info().succeeded == 30);
    std::vector<int> got = drain(stream);
    REQUIRE(got.size() == 30);
    for (int i = 0; i < 30; ++i) CHECK(got[i] == i * 2);
    CHECK_FALSE(stream.stopped());
  });
}

TEST_CASE("gather_and_close waits for every job and map, keeps unread results, and closes") {
  with_threads([](std::size_t threads) {
    task_pool pool(pool_opts(threads));
    pool.start();
    auto failing = pool.apply([]() -> int { throw item_error(-1); });
    auto stream = pool.map([](int i) { this_job::yield(); return i; }, std::views::iota(0, 40), 2);
    auto unordered = pool.map_unordered([](int i) { return i; }, std::views::iota(0, 40), 2);
    CHECK_NOTHROW(pool.gather_and_close());
    CHECK(pool.state() == pool_state::closed);
    CHECK(pool.running() == 0);
    CHECK(pool.waiting() == 0);
    CHECK(pool.info().succeeded == 80);
    CHECK(drain(stream).size() == 40);
    CHECK(drain(unordered).size() == 40);
    CHECK_THROWS_AS(failing.get(), item_error);
    CHECK_THROWS_AS(pool.apply([] {}), pool_closed);
  });
}

TEST_CASE("destroying a stream does not stop its map; the results are dropped") {
  with_threads([](std::size_t threads) {
    task_pool pool(pool_opts(threads));
    pool.start();
    std::atomic<int> ran{0};
    {
      auto stream = pool.map([&](int i) { ran.fetch_add(1); return std::string(100, 'x') + std::to_string(i); },
                             std::views::iota(0, 50), 2);
      CHECK(stream.next());
    }
    pool.gather_and_close();
    CHECK(ran.load() == 50);
  });
}

TEST_CASE("terminate() and the pool's end stop a map over an endless input") {
  with_threads([](std::size_t threads) {
    std::atomic<int> pulled{0};
    std::optional<result_stream<int>> kept;
    {
      task_pool pool(pool_opts(threads));
      pool.start();
      semaphore started(0);
      kept.emplace(pool.map([&](int i) { started.release(); this_job::sleep_for(std::chrono::hours(1)); return i; },
                            counted(pulled), 2));
      started.acquire();
      auto other = pool.map([](int i) { return i; }, counted(pulled));
      // The pool goes out of scope here: its destructor terminates it.
    }
    // The stream outlives its pool: the pulled items' outcomes, then its end.
    int terminated = 0;
    for (auto& o : *kept) {
      CHECK_THROWS_AS(o.value(), job_terminated);
      ++terminated;
    }
    CHECK(terminated >= 1);
    CHECK(terminated <= 2);
    CHECK(kept->stopped());
    kept.reset();
  });
}

TEST_CASE("a map on a pool not yet started queues its jobs until start(); stop() before start cancels it") {
  with_threads([](std::size_t threads) {
    {
      task_pool pool(pool_opts(threads));
      auto stream = pool.map([](int i) { return i + 1; }, std::vector<int>{1, 2, 3}, 2);
      CHECK(eventually([&] { return pool.waiting() == 2; }));
      settle();
      CHECK(pool.waiting() == 2);  // the window holds the third item back
      pool.start();
      CHECK(drain(stream) == std::vector<int>{2, 3, 4});
    }
    {
      task_pool pool(pool_opts(threads));
      auto stream = pool.map([](int i) { return i; }, std::views::iota(0, 100), 2);
      CHECK(eventually([&] { return pool.waiting() == 2; }));
      pool.stop();
      int cancelled = 0;
      for (auto& o : stream) {
        CHECK_THROWS_AS(o.value(), job_cancelled);
        ++cancelled;
      }
      CHECK(cancelled == 2);
      CHECK(stream.stopped());
    }
  });
}

TEST_CASE("a job can map into its own pool and read the stream") {
  with_threads([](std::size_t threads) {
    task_pool pool(pool_opts(threads));
    pool.start();
    auto outer = pool.apply([&pool] {
      auto inner = pool.map([](int i) { return i * i; }, std::views::iota(1, 5), 2);
      int sum = 0;
      while (auto v = inner.next()) sum += *v;
      return sum;
    });
    CHECK(outer.get() == 1 + 4 + 9 + 16);
  });
}

TEST_CASE("a map's feeder is no job: this_job::id() is 0 in the input range") {
  with_threads([](std::size_t threads) {
    task_pool pool(pool_opts(threads));
    pool.start();
    std::atomic<job_id> seen{99};
    auto in = std::views::iota(0, 1) | std::views::transform([&](int i) { seen = this_job::id(); return i; });
    auto stream = pool.map([](int i) { return this_job::id() != 0 ? i : -1; }, in);
    CHECK(stream.next() == 0);
    CHECK(seen.load() == 0);
  });
}

TEST_CASE("a map's items are not remembered once ended, and its group goes with flush()") {
  with_threads([](std::size_t threads) {
    task_pool pool(pool_opts(threads));
    pool.start();
    auto stream = pool.map([](int i) { return i; }, std::views::iota(0, 300), 5);
    job_id last = 0;
    for (auto& o : stream) last = o.id();
    CHECK(pool.info().succeeded == 300);
    CHECK(pool.info().remembered == 0);
    CHECK_THROWS_AS(pool.cancel({last}), invalid_job_id);
    CHECK(pool.has_group(stream.group()));
    pool.flush();
    CHECK_FALSE(pool.has_group(stream.group()));
  });
}

TEST_CASE("a moved-from stream says so") {
  with_threads([](std::size_t threads) {
    task_pool pool(pool_opts(threads));
    pool.start();
    auto a = pool.map([](int i) { return i; }, std::vector<int>{4});
    auto b = std::move(a);
    CHECK_THROWS_AS(a.next(), error);
    CHECK(b.next() == 4);
  });
}
