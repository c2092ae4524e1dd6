// stall: a job that holds its scheduler thread past stall_warning (a CPU loop) is logged, with
// back-off, and shown by jobs() (stalled_for, thread, kill_pending); waiting jobs are not.
#include <algorithm>
#include <atomic>
#include <csignal>
#include <optional>
#include <regex>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "support.hpp"

using namespace fiberpool;
using namespace fiberpool_test;

namespace {

constexpr auto warning = std::chrono::milliseconds(100);
// For the test that nothing is reported: a thread the OS leaves unscheduled for as long while it
// runs a job is (rightly) seen holding it, and a loaded machine must not fail that test.
constexpr auto longer = std::chrono::seconds(1);
const std::string held = "has held scheduler thread";  // in every stall warning, and only there

// spin_until: a CPU loop with no switch point: nothing but the flag ends it.
void spin_until(const std::atomic<bool>& release) {
  while (!release.load(std::memory_order_acquire)) {
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#endif
  }
}

pool_options stall_opts(std::size_t threads, const log_capture& log) {
  auto o = pool_opts(threads);
  o.stall_warning = warning;
  o.logger = log.logger();
  return o;
}

job_options named(std::string name) {
  job_options o;
  o.name = std::move(name);
  return o;
}

std::optional<job_info> info_of(task_pool& pool, job_id id) {
  for (auto& j : pool.jobs())
    if (j.id == id) return j;
  return std::nullopt;
}

bool stalled(task_pool& pool, job_id id) {
  auto j = info_of(pool, id);
  return j && j->stalled_for.has_value();
}

std::size_t count(const std::string& text, const std::string& what) {
  std::size_t n = 0;
  for (auto at = text.find(what); at != std::string::npos; at = text.find(what, at + what.size())) ++n;
  return n;
}

// warnings_about: the stall warnings logged for job `id`, one line each.
std::vector<std::string> warnings_about(const std::string& text, job_id id) {
  std::vector<std::string> out;
  const std::string head = "warning fiberpool: job " + std::to_string(id) + " ";
  std::size_t at = 0;
  while ((at = text.find(head, at)) != std::string::npos) {
    auto end = text.find('\n', at);
    std::string line = text.substr(at, end - at);
    if (line.find(held) != std::string::npos) out.push_back(line);
    at = end;
  }
  return out;
}

// held_ms: the "for N ms" of a stall warning.
long held_ms(const std::string& line) {
  std::smatch m;
  REQUIRE(std::regex_search(line, m, std::regex("held scheduler thread [0-9]+ for ([0-9]+) ms")));
  return std::stol(m[1]);
}

// release_on_exit: ends the CPU loops when a failed REQUIRE leaves the test early; declared after
// the pool, so the pool's destructor (which waits for its jobs) does not wait for them forever.
struct release_on_exit {
  std::atomic<bool>& release;
  ~release_on_exit() { release.store(true, std::memory_order_release); }
};

thread_local std::size_t started_as = 0;  // set by on_thread_start: index + 1

}  // namespace

TEST_CASE("a job in a CPU loop is logged and shown as stalled, and no longer once it switches") {
  with_threads([](std::size_t threads) {
    log_capture log;
    {
      std::atomic<bool> release{false};
      event out_of_loop;
      event finish;  // outlives the pool: a failed check leaves the job waiting on it, to be killed
      task_pool pool(stall_opts(threads, log));
      release_on_exit guard{release};
      pool.start();
      auto j = pool.apply(named("spinner"), [&] {
        spin_until(release);
        out_of_loop.set();
        finish.wait();  // still live, but waiting: holds no thread
      });
      REQUIRE(eventually([&] { return stalled(pool, j.id()); }));
      auto info = *info_of(pool, j.id());
      CHECK(*info.stalled_for >= warning);
      CHECK(info.state == job_state::running);
      CHECK(info.thread < threads);
      CHECK_FALSE(info.kill_pending);
      REQUIRE(eventually([&] { return !warnings_about(log.text(), j.id()).empty(); }));
      std::string line = warnings_about(log.text(), j.id()).front();
      CAPTURE(line);
      CHECK(line.find("job " + std::to_string(j.id()) + " (spinner) in pool 'pool'") != std::string::npos);
      CHECK(line.find("thread " + std::to_string(info.thread)) != std::string::npos);
      CHECK(line.find("no kill is waiting") != std::string::npos);
      CHECK(held_ms(line) >= 100);

      release.store(true, std::memory_order_release);
      out_of_loop.wait();
      // The watchdog's next sample sees the thread switched: it says so once, and warns no more.
      REQUIRE(eventually([&] { return log.text().find("let go of scheduler thread") != std::string::npos; }));
      const auto warned = warnings_about(log.text(), j.id()).size();
      CHECK(count(log.text(), "let go of scheduler thread") == 1);
      REQUIRE(info_of(pool, j.id()).has_value());
      CHECK_FALSE(info_of(pool, j.id())->stalled_for.has_value());
      settle();
      CHECK(warnings_about(log.text(), j.id()).size() == warned);
      finish.set();
      j.get();
    }
  });
}

TEST_CASE("a stall is logged again at 2x and 4x the warning while it lasts, not at every sample") {
  with_threads([](std::size_t threads) {
    log_capture log;
    {
      std::atomic<bool> release{false};
      task_pool pool(stall_opts(threads, log));
      release_on_exit guard{release};
      pool.start();
      auto j = pool.apply(named("long"), [&] { spin_until(release); });
      REQUIRE(eventually([&] { return warnings_about(log.text(), j.id()).size() >= 3; }));
      release.store(true, std::memory_order_release);
      j.get();
      auto lines = warnings_about(log.text(), j.id());
      CAPTURE(log.text());
      REQUIRE(lines.size() >= 3);
      // The watchdog samples every 25 ms: without back-off the third line would come at ~150 ms.
      CHECK(held_ms(lines[0]) >= 100);
      CHECK(held_ms(lines[1]) >= 200);
      CHECK(held_ms(lines[2]) >= 400);
    }
  });
}

TEST_CASE("a stalled job past its hard time limit shows kill_pending, and the warning says the limit passed") {
  with_threads([](std::size_t threads) {
    log_capture log;
    {
      std::atomic<bool> release{false};
      task_pool pool(stall_opts(threads, log));
      release_on_exit guard{release};
      pool.start();
      auto o = named("overdue");
      o.hard_time_limit = 100ms;
      auto j = pool.apply(o, [&] {
        spin_until(release);
        this_job::check_cancelled();  // the first cancellation point: the limit is delivered here
      });
      REQUIRE(eventually([&] {
        auto i = info_of(pool, j.id());
        return i && i->stalled_for && i->kill_pending;
      }));
      REQUIRE(eventually([&] { return !warnings_about(log.text(), j.id()).empty(); }));
      std::string line = warnings_about(log.text(), j.id()).back();
      CAPTURE(line);
      CHECK(line.find("(overdue)") != std::string::npos);
      CHECK(line.find("its hard time limit (100 ms) passed") != std::string::npos);
      release.store(true, std::memory_order_release);
      CHECK_THROWS_AS(j.get(), time_limit_exceeded);
    }
  });
}

TEST_CASE("a kill sent to a stalled job shows as kill_pending and in the next warning") {
  with_threads([](std::size_t threads) {
    log_capture log;
    {
      std::atomic<bool> release{false};
      task_pool pool(stall_opts(threads, log));
      release_on_exit guard{release};
      pool.start();
      auto j = pool.apply(named("deaf"), [&] {
        spin_until(release);
        this_job::check_cancelled();
      });
      REQUIRE(eventually([&] { return stalled(pool, j.id()); }));
      CHECK_FALSE(info_of(pool, j.id())->kill_pending);
      CHECK(pool.terminate_job(j.id(), SIGTERM));
      CHECK(info_of(pool, j.id())->kill_pending);  // sent, and not delivered: the job spins on
      REQUIRE(eventually([&] {
        for (auto& line : warnings_about(log.text(), j.id()))
          if (line.find("a kill (signal 15) is waiting for it") != std::string::npos) return true;
        return false;
      }));
      release.store(true, std::memory_order_release);
      CHECK_THROWS_AS(j.get(), job_terminated);
    }
  });
}

TEST_CASE("jobs that wait or yield for longer than stall_warning are not stalled") {
  with_threads([](std::size_t threads) {
    log_capture log;
    {
      auto o = stall_opts(threads, log);
      o.stall_warning = longer;
      task_pool pool(o);
      pool.start();
      std::vector<job<void>> js;
      for (int i = 0; i < 4; ++i)
        js.push_back(pool.apply([] {
          this_job::sleep_for(2 * longer);
          this_job::sleep_for(2 * longer);
        }));
      // Busy, but switching at every turn: the thread makes progress.
      js.push_back(pool.apply([] {
        const auto until = clock::now() + 4 * longer;
        while (clock::now() < until) this_job::yield();
      }));
      bool any_stalled = false;
      while (!std::all_of(js.begin(), js.end(), [](auto& j) { return j.done(); })) {
        for (auto& i : pool.jobs()) any_stalled = any_stalled || i.stalled_for.has_value();
        std::this_thread::sleep_for(5ms);
      }
      for (auto& j : js) j.get();
      CHECK_FALSE(any_stalled);
      CHECK(count(log.text(), held) == 0);
    }
  });
}

TEST_CASE("job_info::thread is the index on_thread_start saw, for running and stalled jobs") {
  with_threads([](std::size_t threads) {
    log_capture log;
    {
      runtime_options ro;
      ro.threads = threads;
      ro.on_thread_start = [](std::size_t index) { started_as = index + 1; };
      runtime rt(ro);
      std::atomic<bool> release{false};
      event go;
      task_pool pool(rt, stall_opts(threads, log));
      release_on_exit guard{release};
      pool.start();
      // One spinner per thread (an idle thread steals the second if both land on one).
      std::vector<std::atomic<std::size_t>> ran_on(threads);
      std::vector<job<void>> js;
      for (std::size_t k = 0; k < threads; ++k)
        js.push_back(pool.apply([&, k] {
          ran_on[k].store(started_as);
          spin_until(release);
        }));
      REQUIRE(eventually([&] {
        for (auto& j : js)
          if (!stalled(pool, j.id())) return false;
        return true;
      }));
      std::vector<bool> seen(threads, false);
      for (std::size_t k = 0; k < threads; ++k) {
        auto info = *info_of(pool, js[k].id());
        REQUIRE(ran_on[k].load() > 0);
        REQUIRE(info.thread < threads);
        CHECK(info.thread == ran_on[k].load() - 1);
        seen[info.thread] = true;
      }
      CHECK(std::all_of(seen.begin(), seen.end(), [](bool b) { return b; }));  // one on each thread
      // Every job's own warning, not just as many warnings as jobs: a job stalled first may have
      // logged twice before the other logged once.
      REQUIRE(eventually([&] {
        for (auto& j : js)
          if (warnings_about(log.text(), j.id()).empty()) return false;
        return true;
      }));
      for (std::size_t k = 0; k < threads; ++k) {
        auto line = warnings_about(log.text(), js[k].id()).front();
        CHECK(line.find("thread " + std::to_string(ran_on[k].load() - 1) + " for") != std::string::npos);
      }
      release.store(true, std::memory_order_release);
      for (auto& j : js) j.get();

      // A running job that is not stalled (it waits) reports the thread it runs on too.
      std::atomic<std::size_t> waiter_on{0};
      auto w = pool.apply([&] {
        waiter_on.store(started_as);
        go.wait();
      });
      REQUIRE(eventually([&] { return waiter_on.load() > 0; }));
      auto info = *info_of(pool, w.id());
      CHECK(info.thread == waiter_on.load() - 1);
      CHECK_FALSE(info.stalled_for.has_value());
      go.set();
      w.get();
    }
  });
}

TEST_CASE("stalls are still seen after restart() replaced the threads") {
  with_threads([](std::size_t threads) {
    log_capture log;
    {
      std::atomic<bool> release{false};
      task_pool pool(stall_opts(threads, log));
      release_on_exit guard{release};
      pool.start();
      pool.restart();
      auto j = pool.apply(named("after-restart"), [&] { spin_until(release); });
      REQUIRE(eventually([&] { return stalled(pool, j.id()); }));
      REQUIRE(eventually([&] { return !warnings_about(log.text(), j.id()).empty(); }));
      release.store(true, std::memory_order_release);
      j.get();
    }
  });
}

TEST_CASE("a stall on a hosted runtime's host thread is seen by the watchdog") {
  {
    log_capture log;
    runtime_options ro;
    ro.hosted = true;
    runtime rt(ro);
    std::atomic<bool> release{false};
    task_pool pool(rt, stall_opts(1, log));
    release_on_exit guard{release};
    pool.start();
    auto j = pool.apply(named("host-spinner"), [&] { spin_until(release); });
    // The host thread runs the job inside run_ready() and spins there; this thread looks on.
    std::atomic<bool> seen{false};
    std::thread onlooker([&] {
      seen = eventually([&] { return stalled(pool, j.id()) && !warnings_about(log.text(), j.id()).empty(); });
      release.store(true, std::memory_order_release);
    });
    while (!j.done()) rt.run_ready();
    onlooker.join();
    REQUIRE(seen.load());
    CHECK(warnings_about(log.text(), j.id()).front().find("thread 0 for") != std::string::npos);
    pool.stop();
  }
  check_no_leaks();
}

TEST_CASE("stall_warning zero turns detection off; negative is refused") {
  log_capture log;
  {
    auto o = stall_opts(1, log);
    o.stall_warning = clock::duration::zero();
    std::atomic<bool> release{false};
    task_pool pool(o);
    release_on_exit guard{release};
    pool.start();
    auto j = pool.apply([&] { spin_until(release); });
    // Long past what a 100 ms warning would take to show (a broken switch would warn at once).
    const auto until = clock::now() + 6 * warning;
    bool any_stalled = false;
    while (clock::now() < until) {
      auto i = info_of(pool, j.id());
      any_stalled = any_stalled || (i && i->stalled_for.has_value());
      std::this_thread::sleep_for(5ms);
    }
    release.store(true, std::memory_order_release);
    j.get();
    CHECK_FALSE(any_stalled);
    CHECK(count(log.text(), held) == 0);
  }
  auto bad = pool_opts(1);
  bad.stall_warning = -1ms;
  CHECK_THROWS_AS(task_pool{bad}, std::invalid_argument);
  check_no_leaks();
}
