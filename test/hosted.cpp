// Hosted runtimes: a pool driven by a raw epoll loop and by a Boost.Asio io_context.
#include <algorithm>
#include <array>
#include <atomic>
#include <map>
#include <string>
#include <vector>

#include <poll.h>
#include <sys/epoll.h>
#include <unistd.h>

#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>

#include <fiberpool/asio.hpp>
#include <fiberpool/io.hpp>

#include "support.hpp"

using namespace fiberpool;
using namespace fiberpool_test;

namespace {

// A minimal host loop of the kind a C server has: epoll for readers, a sorted list of timers.
class raw_epoll_loop final : public event_loop {
 public:
  raw_epoll_loop() : epfd_(::epoll_create1(EPOLL_CLOEXEC)) { REQUIRE(epfd_ >= 0); }
  ~raw_epoll_loop() override { ::close(epfd_); }

  void add_reader(int fd, std::function<void()> fn) override {
    readers_[fd] = std::move(fn);
    epoll_event ev{};
    ev.events = EPOLLIN;
    ev.data.fd = fd;
    REQUIRE(::epoll_ctl(epfd_, EPOLL_CTL_ADD, fd, &ev) == 0);
  }
  void remove_reader(int fd) override {
    readers_.erase(fd);
    ::epoll_ctl(epfd_, EPOLL_CTL_DEL, fd, nullptr);
    ++removed_;
  }
  void call_at(clock::time_point t, std::function<void()> fn) override { timers_.emplace(t, std::move(fn)); }

  // run_until: the loop, until done() or patience runs out; false on timeout.
  template <class P>
  bool run_until(P done) {
    const auto give_up = clock::now() + patience;
    while (!done()) {
      if (clock::now() > give_up) return false;
      int timeout_ms = 100;
      if (!timers_.empty()) {
        auto left = std::chrono::ceil<std::chrono::milliseconds>(timers_.begin()->first - clock::now()).count();
        timeout_ms = static_cast<int>(std::clamp<long long>(left, 0, 100));
      }
      epoll_event evs[8];
      int n = ::epoll_wait(epfd_, evs, 8, timeout_ms);
      for (int i = 0; i < n; ++i) {
        auto it = readers_.find(evs[i].data.fd);
        if (it != readers_.end()) it->second();
      }
      while (!timers_.empty() && timers_.begin()->first <= clock::now()) {
        auto fn = std::move(timers_.begin()->second);
        timers_.erase(timers_.begin());
        fn();
      }
    }
    return true;
  }
  std::size_t readers() const { return readers_.size(); }
  int removed() const { return removed_; }

 private:
  int epfd_;
  std::map<int, std::function<void()>> readers_;
  std::multimap<clock::time_point, std::function<void()>> timers_;
  int removed_ = 0;
};

// exercise: what every hosted test runs: jobs that sleep (timers), wait on each other (events),
// and talk over loopback TCP, all on the host's thread.
struct hosted_work {
  std::atomic<int> done{0};
  std::thread::id host = std::this_thread::get_id();
  std::atomic<bool> all_on_host{true};
  event ping;
  io::tcp_listener listener = io::tcp_listener::bind("127.0.0.1", 0);

  void apply_to(task_pool& pool) {
    auto note = [this] {
      if (std::this_thread::get_id() != host) all_on_host = false;
      ++done;
    };
    pool.apply([this, note] {
      this_job::sleep_for(20ms);
      ping.set();
      note();
    });
    pool.apply([this, note] {
      ping.wait();
      note();
    });
    pool.apply([this, note] {
      auto s = listener.accept();
      std::array<std::byte, 4> buf;
      std::size_t got = s.read_some(buf);
      s.write_all(std::span(buf).first(got));
      note();
    });
    pool.apply([this, note] {
      auto s = io::tcp_stream::connect("127.0.0.1", listener.port());
      std::string msg = "ping";
      s.write_all(std::as_bytes(std::span(msg.data(), msg.size())));
      std::array<std::byte, 4> buf;
      CHECK(s.read_some(buf) == 4);
      note();
    });
  }
  static constexpr int jobs = 4;
};

}  // namespace

TEST_CASE("a hosted runtime runs fibers only inside run_ready, on the host's thread") {
  {
    runtime_options o;
    o.hosted = true;
    runtime rt(o);
    CHECK(rt.hosted());
    CHECK(rt.threads() == 1);
    std::atomic<int> ran{0};
    std::thread::id ran_on;
    rt.post([&] {
      ran_on = std::this_thread::get_id();
      ++ran;
    });
    CHECK(ran.load() == 0);  // nothing runs between run_ready() calls
    CHECK(rt.run_ready() >= 1);
    CHECK(ran.load() == 1);
    CHECK(ran_on == std::this_thread::get_id());
    CHECK(rt.run_ready() == 0);  // nothing left to do
    CHECK_FALSE(rt.next_deadline().has_value());

    // A sleeping fiber: next_deadline() says when to come back.
    rt.post([&] {
      this_job::sleep_for(10ms);
      ++ran;
    });
    rt.run_ready();
    REQUIRE(rt.next_deadline().has_value());
    while (ran.load() < 2) {
      std::this_thread::sleep_until(*rt.next_deadline());
      rt.run_ready();
    }
    // Work submitted from another thread makes poll_fd() readable.
    std::thread([&] { rt.post([&] { ++ran; }); }).join();
    pollfd p{rt.poll_fd(), POLLIN, 0};
    CHECK(::poll(&p, 1, static_cast<int>(patience.count() * 1000)) == 1);
    rt.run_ready();
    CHECK(ran.load() == 3);
    CHECK_THROWS_AS(rt.restart(), error);
    std::thread([&] { CHECK_THROWS_AS(rt.run_ready(), error); }).join();
  }
  check_no_leaks();
  runtime plain;
  CHECK_THROWS_AS(plain.run_ready(), error);
  CHECK_THROWS_AS(plain.poll_fd(), error);
}

TEST_CASE("register_with_event_loop: a pool driven by a raw epoll loop") {
  {
    raw_epoll_loop loop;
    hosted_work work;
    {
    task_pool pool(pool_opts(2));
    pool.register_with_event_loop(loop);
    CHECK(loop.readers() == 1);
    CHECK(pool.num_processes() == 1);
    CHECK_THROWS_AS(pool.register_with_event_loop(loop), error);
    pool.start();
    CHECK(pool.did_start_ok());
    work.apply_to(pool);
    REQUIRE(loop.run_until([&] { return work.done.load() == hosted_work::jobs; }));
    CHECK(work.all_on_host.load());
    // stop() on the loop's thread drives the remaining jobs itself.
    auto last = pool.apply([] { this_job::sleep_for(5ms); });
    pool.stop();
    CHECK(last.state() == job_state::succeeded);
    }
    CHECK(loop.removed() == 1);  // the pool left the loop
    CHECK(loop.readers() == 0);
  }
  check_no_leaks();
}

TEST_CASE("register_with_event_loop refuses a started pool and a shared runtime with threads") {
  raw_epoll_loop loop;
  {
    task_pool started(pool_opts(1));
    started.start();
    CHECK_THROWS_AS(started.register_with_event_loop(loop), error);
    runtime rt;
    task_pool shared(rt, pool_opts(1));
    CHECK_THROWS_WITH_AS(shared.register_with_event_loop(loop), doctest::Contains("make that runtime hosted"), error);
  }
  check_no_leaks();
}

TEST_CASE("register_with_event_loop: pools on a shared hosted runtime; the same loop once, another loop refused") {
  {
    raw_epoll_loop loop;
    raw_epoll_loop other;
    {
      runtime_options ro;
      ro.hosted = true;
      runtime rt(ro);
      hosted_work work;
      std::atomic<int> second_ran{0};
      {
        task_pool first(rt, pool_opts(1));
        task_pool second(rt, pool_opts(1));
        first.register_with_event_loop(loop);
        CHECK(loop.readers() == 1);
        second.register_with_event_loop(loop);  // the runtime is already driven by this loop: a no-op
        CHECK(loop.readers() == 1);
        CHECK_THROWS_WITH_AS(second.register_with_event_loop(loop), doctest::Contains("already registered"), error);
        task_pool third(rt, pool_opts(1));
        CHECK_THROWS_WITH_AS(third.register_with_event_loop(other), doctest::Contains("another event loop"), error);
        CHECK(other.readers() == 0);
        first.start();
        second.start();
        work.apply_to(first);
        second.apply([&] {
          this_job::sleep_for(10ms);  // a timer of the shared runtime, fired from the loop
          ++second_ran;
        });
        REQUIRE(loop.run_until([&] { return work.done.load() == hosted_work::jobs && second_ran.load() == 1; }));
        CHECK(work.all_on_host.load());
        first.stop();
        second.stop();
        third.stop();
      }
      CHECK(loop.readers() == 1);  // the runtime, not a pool, is driven: it stays until the runtime goes
    }
    CHECK(loop.readers() == 0);
    CHECK(loop.removed() == 1);
  }
  check_no_leaks();
}

TEST_CASE("register_with_event_loop: a pool driven by a Boost.Asio io_context") {
  {
    boost::asio::io_context io;
    asio_event_loop loop(io);
    task_pool pool(pool_opts(1));
    pool.register_with_event_loop(loop);
    hosted_work work;
    pool.start();
    work.apply_to(pool);
    // The last job stops the io_context once everything ran: all of it happened inside io.run().
    pool.apply([&] {
      while (work.done.load() < hosted_work::jobs) this_job::sleep_for(1ms);
      boost::asio::post(io, [&] { io.stop(); });
    });
    std::thread watchdog([&] {
      for (auto until = clock::now() + patience; clock::now() < until && !io.stopped();)
        std::this_thread::sleep_for(10ms);
      io.stop();
    });
    io.run();
    watchdog.join();
    CHECK(work.done.load() == hosted_work::jobs);
    CHECK(work.all_on_host.load());
    pool.stop();
  }
  check_no_leaks();
}
