// Fiber stacks: recycling, the unguarded slab fallback past the vm.max_map_count budget, and how
// much of a stack a blocked job keeps resident.
// Runs with FIBERPOOL_MAX_GUARDED_STACKS=16 (set in test/meson.build) so the budget is small.
#include <atomic>
#include <cstdint>
#include <string>
#include <vector>

#include <sys/mman.h>
#include <unistd.h>

#include "support.hpp"

using namespace fiberpool;
using namespace fiberpool_test;

namespace {

// run_blocked: `jobs` jobs alive at once (each holds a stack), then all released.
void run_blocked(std::size_t threads, std::size_t jobs) {
  task_pool pool(pool_opts(threads));
  pool.start();
  event release;
  std::atomic<std::size_t> started{0};
  event all_started;
  std::vector<job<std::size_t>> js;
  for (std::size_t i = 0; i < jobs; ++i) {
    js.push_back(pool.apply([&, i] {
      if (started.fetch_add(1) + 1 == jobs) all_started.set();
      release.wait();
      return i;
    }));
  }
  REQUIRE(all_started.wait_for(patience));
  CHECK(diagnostics::snapshot().stacks_in_use >= jobs);
  release.set();
  for (std::size_t i = 0; i < jobs; ++i) CHECK(js[i].get() == i);
  pool.stop();
}

// resident_pages_below: how many of the `pages` stack pages just below the page holding `frame`
// are resident. Fresh stack memory is not, until a frame reaches into it.
std::size_t resident_pages_below(std::uintptr_t frame, std::size_t pages) {
  const auto page = static_cast<std::uintptr_t>(::sysconf(_SC_PAGESIZE));
  const std::uintptr_t own_page = frame & ~(page - 1);
  std::vector<unsigned char> resident(pages);
  REQUIRE(::mincore(reinterpret_cast<void*>(own_page - pages * page), pages * page, resident.data()) == 0);
  std::size_t n = 0;
  for (unsigned char r : resident) n += r & 1;
  return n;
}

}  // namespace

TEST_CASE("stacks past the guarded budget come from slabs, the switch is logged once, and all are recycled") {
  auto saved = fiberpool::logger();
  log_capture capture;
  fiberpool::set_logger(capture.logger());
  with_threads([](std::size_t threads) { run_blocked(threads, 100); });
  // A second round reuses slab stacks and must not log again.
  with_threads([](std::size_t threads) { run_blocked(threads, 100); });
  fiberpool::set_logger(saved);
  auto text = capture.text();
  CAPTURE(text);
  CHECK(count_of(text, "reached the vm.max_map_count budget") == 1);
}

TEST_CASE("slab stacks freed past the caches give all their pages back, and serve again when reused") {
  // 3,000 stacks past a guarded budget of 16: once the caches (1,024 per thread, 512 shared) and
  // the slabs' own 512 are full, freed stacks give their pages back in batches, the top page with
  // the stack's header included; a stack taken again is stamped anew.
  auto opts = pool_opts(1, 3000);
  opts.stack_size = 72 * 1024;  // a size no other test uses: these stacks are all fresh
  constexpr std::size_t jobs = 3000;
  std::vector<std::uintptr_t> frames(jobs);
  for (int round = 0; round < 2; ++round) {
    CAPTURE(round);
    task_pool pool(opts);
    pool.start();
    event release, all_blocked;
    std::atomic<std::size_t> blocked{0};
    std::vector<job<std::size_t>> js;
    for (std::size_t i = 0; i < jobs; ++i) {
      js.push_back(pool.apply([&, i] {
        char frame = 0;
        frames[i] = reinterpret_cast<std::uintptr_t>(&frame);
        if (++blocked == jobs) all_blocked.set();
        release.wait();
        return i;
      }));
    }
    REQUIRE(all_blocked.wait_for(patience));
    release.set();
    for (std::size_t i = 0; i < jobs; ++i) REQUIRE(js[i].get() == i);
    pool.stop();
  }
  // Every runtime has stopped: what stays resident is the shared cache, the slabs' bound and one
  // batch waiting to be given back.
  const auto page = static_cast<std::uintptr_t>(::sysconf(_SC_PAGESIZE));
  std::size_t resident = 0;
  for (std::uintptr_t f : frames) {
    unsigned char r = 0;
    // ENOMEM: not mapped at all (one of the 16 guarded stacks, unmapped when freed).
    if (::mincore(reinterpret_cast<void*>(f & ~(page - 1)), page, &r) == 0) resident += r & 1;
  }
  CHECK(resident <= 512 + 512 + 64);
}

TEST_CASE("a freed stack is reused by the next fiber on the same thread") {
  with_threads([](std::size_t threads) {
    task_pool pool(pool_opts(threads, 1));
    pool.start();
    for (int i = 0; i < 200; ++i) pool.apply([] {}).get();
    // With a limit of 1 jobs run one after another: recycled stacks keep the cache tiny.
    CHECK(diagnostics::snapshot().stacks_cached <= 1024 * threads);
    pool.stop();
  });
}

TEST_CASE("when no stack can be had, apply() from a job says so and the job is not half-registered") {
  with_threads([](std::size_t threads) {
    task_pool pool(pool_opts(threads));
    pool.start();
    std::atomic<int> ended{0};
    auto outcome = pool.apply([&] {
      std::string what;
      diagnostics::fail_next_stack_allocations(1);
      try {
        job_options o;
        o.on_ended = [&](job_id, job_state, std::exception_ptr) { ++ended; };
        pool.apply(o, [] {});
      } catch (const fiberpool::error& e) {
        what = e.what();
      }
      diagnostics::fail_next_stack_allocations(0);
      return what;
    });
    std::string what = outcome.get();
    CHECK(what.find("could not map a fiber stack") != std::string::npos);
    CHECK(what.find("not accepted") != std::string::npos);
    pool.waitall();
    CHECK(ended == 0);                    // never accepted: no end to report
    CHECK(pool.info().succeeded == 1);    // only the outer job
    CHECK(pool.jobs().empty());
    CHECK(pool.apply([] { return 7; }).get() == 7);  // and the pool keeps working
    pool.stop();
  });
}

TEST_CASE("when no stack can be had for a job applied from outside, the job ends failed and says why") {
  with_threads([](std::size_t threads) {
    task_pool pool(pool_opts(threads));
    pool.start();
    std::atomic<int> ended{0};
    job_options o;
    o.on_ended = [&](job_id, job_state s, std::exception_ptr e) {
      if (s == job_state::failed && e) ++ended;
    };
    diagnostics::fail_next_stack_allocations(1);
    auto j = pool.apply(o, [] { return 1; });
    REQUIRE(j.wait_for(patience));
    diagnostics::fail_next_stack_allocations(0);
    CHECK(j.state() == job_state::failed);
    CHECK_THROWS_WITH_AS(j.get(), doctest::Contains("could not create a fiber"), fiberpool::error);
    CHECK(ended == 1);
    CHECK(pool.apply([] { return 7; }).get() == 7);
    pool.stop();
  });
}

TEST_CASE("a job blocked in a wait keeps no stack page below its own frame's page resident") {
  // A blocked job costs the stack pages it touched, and every fiberpool wait ends in the parker:
  // one deep frame there (Boost's spinlock_ttas::lock() holds 5,000 bytes) doubles that cost.
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
  // The sanitizers' instrumentation (ASan's redzones around every local) makes frames several
  // times their real size.
  MESSAGE("skipped under a sanitizer: instrumented frames are not the real ones");
  return;
#endif
  with_threads([](std::size_t threads) {
    auto opts = pool_opts(threads);
    // A size no other test uses, so every stack is fresh: recycled ones keep the pages that
    // earlier fibers touched.
    opts.stack_size = (80 + 4 * threads) * 1024;
    task_pool pool(opts);
    pool.start();
    constexpr std::size_t jobs = 8;
    constexpr std::size_t pages_checked = 15;  // well inside the stack, below the job's own page
    event release;
    std::vector<std::atomic<std::uintptr_t>> frames(jobs);
    std::atomic<std::size_t> waiting{0};
    for (std::size_t i = 0; i < jobs; ++i) {
      pool.apply([&, i] {
        char frame = 0;
        frames[i] = reinterpret_cast<std::uintptr_t>(&frame);
        release.wait_for(std::chrono::milliseconds(1));  // a timed wait that times out
        ++waiting;
        release.wait();
      });
    }
    REQUIRE(eventually([&] { return waiting.load() == jobs; }));
    settle();  // lets the last jobs reach their suspension
    // A carrier that had to make another carrier before running its job (a burst, on 2 threads)
    // touched a page below in launch_fiber first, which the job then keeps: an occasional job
    // with one page is that, and not what this guards against. A deep frame in the wait path
    // (the regression) puts a page below nearly every blocked job.
    std::size_t total = 0;
    for (std::size_t i = 0; i < jobs; ++i) {
      CAPTURE(i);
      const std::size_t below = resident_pages_below(frames[i].load(), pages_checked);
      CHECK(below <= 1);
      total += below;
    }
    CHECK(total <= jobs / 4);
    release.set();
    pool.stop();
  });
}

TEST_CASE("a burst of jobs that get no stack is logged once, not once per job") {
  auto saved = fiberpool::logger();
  log_capture capture;
  fiberpool::set_logger(capture.logger());
  with_threads([](std::size_t threads) {
    task_pool pool(pool_opts(threads));
    pool.start();
    constexpr int burst = 40;
    diagnostics::fail_next_stack_allocations(burst);
    std::vector<job<int>> failed;
    for (int i = 0; i < burst; ++i) failed.push_back(pool.apply([] { return 1; }));
    for (auto& j : failed) REQUIRE(j.wait_for(patience));
    diagnostics::fail_next_stack_allocations(0);
    for (auto& j : failed) CHECK(j.state() == job_state::failed);
    CHECK(pool.apply([] { return 7; }).get() == 7);  // the burst ends: fibers are made again
    pool.stop();
  });
  fiberpool::set_logger(saved);
  auto text = capture.text();
  CAPTURE(text);
  // One line per burst (two bursts: one per thread count), plus one line when each burst ends.
  CHECK(count_of(text, "could not create a fiber") == 2);
  CHECK(count_of(text, "creates fibers again; 40 tasks in a row got none") == 2);
}

TEST_CASE("a stack_size above max_stack_size throws std::invalid_argument at construction") {
  pool_options o;
  o.stack_size = std::size_t{1} << 40;
  CHECK_THROWS_WITH_AS(task_pool{o}, doctest::Contains("max_stack_size"), std::invalid_argument);
  runtime_options r;
  r.stack_size = max_stack_size + 1;
  CHECK_THROWS_WITH_AS(runtime{r}, doctest::Contains("max_stack_size"), std::invalid_argument);
  o.stack_size = max_stack_size;  // the bound itself is accepted
  CHECK_NOTHROW(task_pool{o});
}
