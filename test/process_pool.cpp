// process_pool: worker processes (Celery prefork, aiomultiprocess). This executable is its own
// worker: main() registers the tasks and calls run_if_worker() before doctest runs.
#define DOCTEST_CONFIG_IMPLEMENT
#include <doctest/doctest.h>

#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <condition_variable>
#include <mutex>
#include <cerrno>
#include <cstdlib>
#include <filesystem>
#include <map>
#include <random>
#include <fstream>
#include <set>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include <spdlog/sinks/null_sink.h>
#include <spdlog/spdlog.h>

#include <boost/asio/io_context.hpp>

#include <fiberpool/asio.hpp>
#include <fiberpool/control.hpp>
#include <fiberpool/fiberpool.hpp>
#include <fiberpool/process_pool.hpp>

using namespace std::chrono_literals;
namespace fp = fiberpool;

extern char** environ;

namespace {

std::string marker_dir() {
  static std::string dir = [] {
    char tmpl[] = "/tmp/fiberpool-process-test-XXXXXX";
    return std::string(::mkdtemp(tmpl));
  }();
  return dir;
}

void register_tasks() {
  fp::register_task("echo", [](std::string_view p) { return std::string(p); });
  fp::register_task("pid", [](std::string_view) { return std::to_string(::getpid()); });
  fp::register_task("throw", [](std::string_view p) -> std::string { throw std::runtime_error(std::string(p)); });
  fp::register_task("abort", [](std::string_view) -> std::string { std::abort(); });
  // raise(SIGSEGV): a sent SIGSEGV, which fiberpool's stack-overflow handler must not swallow.
  fp::register_task("segv", [](std::string_view) -> std::string {
    ::raise(SIGSEGV);
    return "survived";
  });
  fp::register_task("exit3", [](std::string_view) -> std::string { std::_Exit(3); });
  // sleep: waits (a cancellation point of the worker's own pool) for the payload's milliseconds.
  fp::register_task("sleep", [](std::string_view p) {
    fp::this_job::sleep_for(std::chrono::milliseconds(std::stoi(std::string(p))));
    return std::string("slept");
  });
  // spin: a CPU loop with no cancellation point, forever.
  fp::register_task("spin", [](std::string_view) -> std::string {
    for (volatile unsigned long i = 0;; i = i + 1) {}
  });
  // soft: loops through cancellation points until its soft limit, which it catches.
  fp::register_task("soft", [](std::string_view) -> std::string {
    try {
      for (;;) fp::this_job::sleep_for(1ms);
    } catch (const fp::soft_time_limit_exceeded&) {
      return "soft limit seen";
    }
  });
  // crash_once: the first run (marker file absent) kills its worker; the next returns "again".
  fp::register_task("crash_once", [](std::string_view dir) -> std::string {
    std::string marker = std::string(dir) + "/crashed";
    if (!std::filesystem::exists(marker)) {
      std::ofstream(marker) << "x";
      ::kill(::getpid(), SIGKILL);
    }
    return "again";
  });
  // fork_then_abort: forks a child that keeps the worker's socket open (fork without exec) and
  // sleeps, writes its pid to <payload dir>/grandchild, then aborts the worker.
  fp::register_task("fork_then_abort", [](std::string_view dir) -> std::string {
    int child = ::fork();
    if (child == 0) {
      ::sleep(120);
      ::_exit(0);
    }
    std::ofstream(std::string(dir) + "/grandchild") << child;
    std::abort();
  });
  fp::register_task("grow_memory", [](std::string_view) {
    static std::vector<std::string> kept;
    kept.emplace_back(8 << 20, 'x');  // 8 MiB that stays
    return std::string("kept");
  });
}

fp::process_pool_options small(std::size_t processes, std::size_t jobs_per_process = 1) {
  fp::process_pool_options o;
  o.name = "test";
  o.processes = processes;
  o.jobs_per_process = jobs_per_process;
  o.logger = std::make_shared<spdlog::logger>("quiet", std::make_shared<spdlog::sinks::null_sink_mt>());
  return o;
}

bool process_exists(int pid) { return ::kill(pid, 0) == 0 || errno != ESRCH; }

// worker_counts: waits, through the pool's worker signals, for workers to start or exit.
class worker_counts {
 public:
  explicit worker_counts(fp::process_pool& pool)
      : started_(pool.signals().worker_started.connect([this](int) { bump(started_n_); })),
        exited_(pool.signals().worker_exited.connect([this](int, int) { bump(exited_n_); })) {}
  bool wait_started(int n) { return wait_for(started_n_, n); }
  bool wait_exited(int n) { return wait_for(exited_n_, n); }

 private:
  void bump(int& count) {
    std::lock_guard lk(mu_);
    ++count;
    changed_.notify_all();
  }
  bool wait_for(int& count, int n) {
    std::unique_lock lk(mu_);
    return changed_.wait_for(lk, 30s, [&] { return count >= n; });
  }
  std::mutex mu_;
  std::condition_variable changed_;
  int started_n_ = 0, exited_n_ = 0;
  fp::scoped_connection started_, exited_;
};

}  // namespace

// parent_helper: the parent the parent-death test kills: a pool of two workers, each running a
// job that would sleep a minute; it writes the workers' pids to `out_fd` and waits to be killed.
int parent_helper(int out_fd) {
  fp::process_pool pool(small(2));
  pool.start();
  auto a = pool.apply("sleep", "60000");
  auto b = pool.apply("sleep", "60000");
  while (pool.jobs().size() < 2 || pool.jobs()[0].worker_pid == 0 || pool.jobs()[1].worker_pid == 0)
    std::this_thread::sleep_for(1ms);
  std::string line;
  for (int pid : pool.worker_pids()) line += std::to_string(pid) + " ";
  line += "\n";
  if (::write(out_fd, line.data(), line.size()) != static_cast<ssize_t>(line.size())) return 1;
  std::this_thread::sleep_for(std::chrono::minutes(1));
  return 1;
}

int main(int argc, char** argv) {
  register_tasks();
  if (auto rc = fp::run_if_worker(argc, argv)) return *rc;
  if (const char* fd = std::getenv("PROCESS_TEST_PARENT_FD")) return parent_helper(std::atoi(fd));
  doctest::Context ctx(argc, argv);
  int rc = ctx.run();
  std::filesystem::remove_all(marker_dir());
  return rc;
}

TEST_CASE("process_pool runs registered tasks in worker processes and returns their bytes") {
  for (std::size_t per : {1u, 2u}) {
    CAPTURE(per);
    fp::process_pool pool(small(2, per));
    pool.start();
    CHECK(pool.did_start_ok());
    CHECK(pool.worker_pids().size() == 2);
    CHECK(pool.apply("echo", "hello").get() == "hello");
    std::string big(1 << 20, 'z');
    CHECK(pool.apply("echo", big).get() == big);
    // Run in other processes: the pid a task reports is a worker's, never ours.
    auto pid = std::stoi(pool.apply("pid", "").get());
    CHECK(pid != ::getpid());
    auto pids = pool.worker_pids();
    CHECK(std::find(pids.begin(), pids.end(), pid) != pids.end());
    std::vector<fp::job<std::string>> many;
    for (int i = 0; i < 200; ++i) many.push_back(pool.apply("echo", std::to_string(i)));
    for (int i = 0; i < 200; ++i) CHECK(many[i].get() == std::to_string(i));
    pool.stop();
    CHECK(pool.state() == fp::pool_state::stopped);
    CHECK(pool.info().succeeded == 203);
    CHECK(pool.info().workers_lost == 0);
    for (int p : pids) CHECK_FALSE(process_exists(p));
  }
}

TEST_CASE("process_pool refuses unknown tasks and oversized payloads at apply()") {
  auto o = small(1);
  o.max_payload = 1000;
  fp::process_pool pool(o);
  pool.start();
  CHECK_THROWS_AS(pool.apply("no-such-task", "x"), std::invalid_argument);
  CHECK_THROWS_AS(pool.apply("echo", std::string(1001, 'x')), std::invalid_argument);
  CHECK(pool.apply("echo", std::string(1000, 'x')).get().size() == 1000);
  CHECK_THROWS_AS(fp::register_task("echo", [](std::string_view) { return std::string(); }), std::invalid_argument);
}

TEST_CASE("an exception a task throws fails the job as remote_error with its type and message") {
  fp::process_pool pool(small(1));
  pool.start();
  auto j = pool.apply("throw", "bad input");
  try {
    j.get();
    FAIL("get() returned");
  } catch (const fp::remote_error& e) {
    CHECK(e.type() == "std::runtime_error");
    CHECK(std::string(e.what()).find("bad input") != std::string::npos);
  }
  CHECK(j.state() == fp::job_state::failed);
  CHECK(pool.apply("echo", "still here").get() == "still here");  // the worker lives on
  CHECK(pool.info().workers_lost == 0);
}

// How a worker that touched a bad address ends. A sanitizer's own SEGV handler reports
// the fault and ends the process its own way: AddressSanitizer aborts, ThreadSanitizer
// exits with its exitcode (66 unless TSAN_OPTIONS says otherwise).
bool ended_by_segv(const fp::worker_lost& e) {
  if (e.term_signal() == SIGSEGV) return true;
#if defined(__SANITIZE_ADDRESS__)
  return e.term_signal() == SIGABRT;
#elif defined(__SANITIZE_THREAD__)
  return e.term_signal() == 0 && e.exit_code() == 66;
#else
  return false;
#endif
}

TEST_CASE("a worker that crashes fails its jobs once with worker_lost, is replaced, and the pool keeps its size") {
  for (std::size_t per : {1u, 2u}) {
    CAPTURE(per);
    fp::process_pool pool(small(2, per));
    std::atomic<int> ended{0};
    pool.start();
    auto before = pool.worker_pids();
    fp::job_options counted;
    counted.on_ended = [&](fp::job_id, fp::job_state, std::exception_ptr) { ++ended; };
    auto crash = pool.apply("abort", "", counted);
    try {
      crash.get();
      FAIL("get() returned");
    } catch (const fp::worker_lost& e) {
      CHECK(e.term_signal() == SIGABRT);
      CHECK(e.exit_code() == -1);
    }
    auto quit = pool.apply("exit3", "", counted);
    try {
      quit.get();
      FAIL("get() returned");
    } catch (const fp::worker_lost& e) {
      CHECK(e.exit_code() == 3);
      CHECK(e.term_signal() == 0);
    }
    auto segv = pool.apply("segv", "", counted);
    try {
      segv.get();
      FAIL("get() returned");
    } catch (const fp::worker_lost& e) {
      CAPTURE(e.what());
      CHECK(ended_by_segv(e));
    }
    // The others go on, and the pool is back to two workers.
    std::vector<fp::job<std::string>> rest;
    for (int i = 0; i < 20; ++i) rest.push_back(pool.apply("echo", "ok", counted));
    for (auto& j : rest) CHECK(j.get() == "ok");
    pool.stop();
    CHECK(ended.load() == 23);
    CHECK(pool.info().failed == 3);
    CHECK(pool.info().workers_lost == 3);
    CHECK(pool.info().workers_replaced >= 3);
  }
}

TEST_CASE("a worker killed from outside ends its running jobs worker_lost; requeue_on_worker_lost runs them once more") {
  {
    fp::process_pool pool(small(1, 2));
    pool.start();
    auto a = pool.apply("sleep", "60000");
    auto b = pool.apply("sleep", "60000");
    while (pool.jobs().size() < 2 || pool.jobs()[1].worker_pid == 0) std::this_thread::sleep_for(1ms);
    int pid = pool.jobs()[0].worker_pid;
    CHECK(pid == pool.worker_pids().at(0));
    ::kill(pid, SIGKILL);
    CHECK_THROWS_AS(a.get(), fp::worker_lost);
    CHECK_THROWS_AS(b.get(), fp::worker_lost);
    CHECK(pool.apply("echo", "after").get() == "after");
    CHECK(pool.worker_pids().at(0) != pid);
  }
  {
    auto o = small(2);
    o.requeue_on_worker_lost = true;
    fp::process_pool pool(o);
    pool.start();
    std::filesystem::remove(marker_dir() + "/crashed");
    CHECK(pool.apply("crash_once", marker_dir()).get() == "again");
    CHECK(pool.info().workers_lost == 1);
    // Never more than once: a task that kills every worker fails after its second try.
    auto j = pool.apply("abort", "");
    CHECK_THROWS_AS(j.get(), fp::worker_lost);
    CHECK(pool.info().workers_lost == 3);
  }
}

TEST_CASE("300 mixed jobs with random crashes: every job ends exactly once, and the pool keeps its size") {
  for (bool requeue : {false, true}) {
    CAPTURE(requeue);
    auto o = small(2, 2);  // two jobs per worker: a crash takes a bystander with it
    o.requeue_on_worker_lost = requeue;
    fp::process_pool pool(o);
    pool.start();
    std::mutex mu;
    std::map<fp::job_id, int> ends;  // on_ended calls per job
    fp::job_options counted;
    counted.on_ended = [&](fp::job_id id, fp::job_state, std::exception_ptr) {
      std::lock_guard lk(mu);
      ++ends[id];
    };
    std::mt19937 rng(requeue ? 12 : 11);
    const char* crashes[] = {"abort", "segv", "exit3"};
    struct applied {
      fp::job<std::string> job;
      std::string kind, payload;
    };
    std::vector<applied> all;
    for (int i = 0; i < 300; ++i) {
      const unsigned roll = rng() % 100;
      std::string kind = roll < 8 ? crashes[rng() % 3] : roll < 16 ? "throw" : roll < 30 ? "sleep" : "echo";
      std::string payload = kind == "sleep" ? std::to_string(rng() % 5) : std::to_string(i);
      all.push_back({pool.apply(kind, payload, counted), kind, payload});
    }
    std::size_t lost = 0;
    for (auto& a : all) {
      CAPTURE(a.kind);
      try {
        auto r = a.job.get();
        CHECK(a.kind != "throw");
        CHECK(r == (a.kind == "sleep" ? std::string("slept") : a.payload));
      } catch (const fp::worker_lost&) {
        ++lost;  // a crash, or a bystander of one (twice, with requeue)
      } catch (const fp::remote_error& e) {
        CHECK(a.kind == "throw");
        CHECK(e.type() == "std::runtime_error");
      }
      if (a.kind != "echo" && a.kind != "sleep" && a.kind != "throw") CHECK(a.job.state() == fp::job_state::failed);
    }
    pool.stop();
    {
      std::lock_guard lk(mu);
      CHECK(ends.size() == all.size());
      for (auto& [id, n] : ends) CHECK_MESSAGE(n == 1, "job ", id, " ended ", n, " times");
    }
    auto info = pool.info();
    CHECK(info.succeeded + info.failed == all.size());
    CHECK(info.workers_lost >= 1);
    // Each lost worker took at least the job that crashed it, which a requeue runs (and crashes) twice.
    CHECK(lost * (requeue ? 2 : 1) >= info.workers_lost);
    CHECK(pool.num_processes() == 2);
  }
}

TEST_CASE("a worker that dies while a process it forked keeps its socket open is still lost at once") {
  fp::process_pool pool(small(1));
  pool.start();
  auto dir = marker_dir() + "/fork";
  std::filesystem::create_directories(dir);
  auto job = pool.apply("fork_then_abort", dir);
  CHECK_THROWS_AS(job.get(), fp::worker_lost);
  int grandchild = 0;
  std::ifstream(dir + "/grandchild") >> grandchild;
  REQUIRE(grandchild > 0);
  // It still held the worker's end of the socket: the death was seen through the pidfd.
  CHECK(process_exists(grandchild));
  ::kill(grandchild, SIGKILL);
  ::waitpid(grandchild, nullptr, 0);  // ours only if this process is a subreaper; harmless if not
  CHECK(pool.apply("echo", "next").get() == "next");
  CHECK(pool.info().workers_lost == 1);
}

TEST_CASE("with SIGCHLD ignored, a lost worker's jobs still end worker_lost and say why its status is unknown") {
  struct sigaction ignore{}, old{};
  ignore.sa_handler = SIG_IGN;
  REQUIRE(::sigaction(SIGCHLD, &ignore, &old) == 0);
  {
    fp::process_pool pool(small(1));
    pool.start();
    try {
      pool.apply("abort", "").get();
      FAIL("get() returned");
    } catch (const fp::worker_lost& e) {
      CHECK(std::string(e.what()).find("SIGCHLD") != std::string::npos);
      CHECK(e.term_signal() == 0);
      CHECK(e.exit_code() == -1);
    }
    CHECK(pool.apply("echo", "next").get() == "next");
    pool.stop();  // its worker exits cleanly; that is not counted as lost though its status is unknown
    CHECK(pool.info().workers_lost == 1);
  }
  ::sigaction(SIGCHLD, &old, nullptr);
}

TEST_CASE("a hard time limit ends a job in a CPU loop terminated: its worker is killed and replaced") {
  auto o = small(2);
  // Long enough that the worker has surely started the job when the limit fires: a kill frame
  // that reached the worker together with the job's run frame would end it before it ran, and
  // the worker would never need killing.
  o.hard_time_limit = 1s;
  o.kill_grace = 200ms;
  fp::process_pool pool(o);
  worker_counts workers(pool);
  pool.start();
  auto spinning = pool.apply("spin", "");
  CHECK_THROWS_AS(spinning.get(), fp::time_limit_exceeded);
  CHECK(spinning.state() == fp::job_state::terminated);
  // The spinning worker could not unwind: killed after kill_grace, replaced.
  CHECK(workers.wait_exited(1));
  CHECK(workers.wait_started(3));
  CHECK(pool.info().workers_lost == 1);
  CHECK(pool.apply("echo", "x").get() == "x");
  pool.stop();
  CHECK(pool.info().terminated == 1);
}

TEST_CASE("stop() right after a hard limit killed a looping job still kills its worker and returns") {
  auto o = small(1);
  o.hard_time_limit = 1s;  // the job has started in its worker by then (see the test above)
  o.kill_grace = 100ms;
  fp::process_pool pool(o);
  pool.start();
  auto spinning = pool.apply("spin", "");
  CHECK_THROWS_AS(spinning.get(), fp::time_limit_exceeded);
  auto pids = pool.worker_pids();
  pool.stop();  // waits for the worker, which only the kill after kill_grace can end
  CHECK(pool.info().workers_lost == 1);
  for (int p : pids) CHECK_FALSE(process_exists(p));
}

// running_in_worker: waits until the pool's first job has reached a worker.
void wait_running_in_worker(fp::process_pool& pool) {
  for (auto until = fp::clock::now() + 30s; fp::clock::now() < until; std::this_thread::sleep_for(1ms)) {
    auto jobs = pool.jobs();
    if (!jobs.empty() && jobs[0].worker_pid != 0) return;
  }
  FAIL("no job reached a worker within 30 s");
}

TEST_CASE("close, stop_for and terminate end jobs as task_pool's do, with the pool signals, and the workers go") {
  SUBCASE("close: apply() throws pool_closed, the jobs applied go on; stop() then lets the workers go") {
    fp::process_pool pool(small(1));
    int started = 0, pre = 0, post = 0;
    fp::scoped_connection a = pool.signals().pool_started.connect([&](fp::task_pool&) { ++started; });
    fp::scoped_connection b = pool.signals().pool_preshutdown.connect([&](fp::task_pool&) { ++pre; });
    fp::scoped_connection c = pool.signals().pool_postshutdown.connect([&](fp::task_pool&) { ++post; });
    pool.start();
    CHECK(started == 1);
    auto job = pool.apply("sleep", "50");
    pool.close();
    CHECK_THROWS_AS(pool.apply("echo", "late"), fp::pool_closed);
    CHECK(job.get() == "slept");
    pool.stop();
    CHECK(pre == 1);
    CHECK(post == 1);
    CHECK(pool.state() == fp::pool_state::stopped);
    CHECK(pool.worker_pids().empty());
  }
  SUBCASE("stop_for: a job in a CPU loop ends terminated, stop_for returns false, its worker is killed") {
    auto o = small(1);
    o.kill_grace = 200ms;
    fp::process_pool pool(o);
    pool.start();
    auto spin = pool.apply("spin", "");
    wait_running_in_worker(pool);
    CHECK_FALSE(pool.stop_for(100ms));
    CHECK(spin.state() == fp::job_state::terminated);
    CHECK(pool.worker_pids().empty());
  }
  SUBCASE("terminate: the queued job is cancelled, the running one terminated, every worker gone") {
    fp::process_pool pool(small(1));
    pool.start();
    auto running = pool.apply("sleep", "60000");
    auto queued = pool.apply("echo", "later");
    wait_running_in_worker(pool);
    pool.terminate();
    CHECK(running.state() == fp::job_state::terminated);
    CHECK(queued.state() == fp::job_state::cancelled);
    CHECK(pool.worker_pids().empty());
  }
}

TEST_CASE("terminate_job kills a running job in its worker at a cancellation point; the worker lives on") {
  auto o = small(1);
  o.kill_grace = 30s;  // the unwinding is what is tested: a slow machine must not get it killed
  fp::process_pool pool(o);
  pool.start();
  auto j = pool.apply("sleep", "60000");
  while (pool.jobs().empty() || pool.jobs()[0].worker_pid == 0) std::this_thread::sleep_for(1ms);
  int pid = pool.worker_pids().at(0);
  CHECK(pool.terminate_job(j.id()));
  CHECK_THROWS_AS(j.get(), fp::job_terminated);
  CHECK(j.state() == fp::job_state::terminated);
  CHECK(pool.apply("pid", "").get() == std::to_string(pid));  // the same worker, unwound in time
  CHECK(pool.info().workers_lost == 0);
  CHECK_FALSE(pool.terminate_job(j.id()));
}

TEST_CASE("a soft time limit is raised inside the task in its worker") {
  auto o = small(1);
  o.soft_time_limit = 50ms;
  fp::process_pool pool(o);
  pool.start();
  CHECK(pool.apply("soft", "").get() == "soft limit seen");
}

TEST_CASE("max_tasks_per_child and max_memory_per_child replace workers between jobs") {
  {
    auto o = small(1);
    o.max_tasks_per_child = 2;
    fp::process_pool pool(o);
    pool.start();
    std::set<std::string> pids;
    for (int i = 0; i < 6; ++i) pids.insert(pool.apply("pid", "").get());
    CHECK(pids.size() == 3);
    CHECK(pool.info().workers_replaced >= 2);
    CHECK(pool.info().workers_lost == 0);
  }
  {
    auto o = small(1);
    o.max_memory_per_child = 64 << 20;
    fp::process_pool pool(o);
    pool.start();
    std::set<int> pids;
    for (int i = 0; i < 16; ++i) {
      pool.apply("grow_memory", "").get();
      for (int p : pool.worker_pids()) pids.insert(p);
    }
    CHECK(pids.size() >= 2);  // 16 x 8 MiB cannot stay under 64 MiB in one worker
    CHECK(pool.info().workers_lost == 0);
  }
}

TEST_CASE("workers recycled after every job while jobs keep ending: every job ends, every worker leaves") {
  // A worker retires while the ends of its other jobs are still being written: the last of them
  // must go out before it exits (a missed wake-up of its writer once left it waiting forever).
  for (std::size_t per : {1u, 2u, 4u}) {
    CAPTURE(per);
    auto o = small(2, per);
    o.max_tasks_per_child = 1;
    fp::process_pool pool(o);
    pool.start();
    std::vector<fp::job<std::string>> jobs;
    for (int i = 0; i < 60; ++i) jobs.push_back(pool.apply("echo", std::to_string(i)));
    for (int i = 0; i < 60; ++i) CHECK(jobs[i].get() == std::to_string(i));
    pool.stop();
    CHECK(pool.worker_pids().empty());
    CHECK(pool.info().workers_lost == 0);
    CHECK(pool.info().succeeded == 60);
  }
}

TEST_CASE("map and map_unordered run a task over lazily pulled payloads") {
  fp::process_pool pool(small(2, 2));
  pool.start();
  std::vector<std::string> in;
  for (int i = 0; i < 50; ++i) in.push_back(std::to_string(i));
  std::vector<std::string> out;
  for (auto& r : pool.map("echo", in, 4)) out.push_back(r.value());
  CHECK(out == in);
  std::multiset<std::string> unordered;
  for (auto& r : pool.map_unordered("echo", in, 4)) unordered.insert(r.value());
  CHECK(unordered == std::multiset<std::string>(in.begin(), in.end()));
}

TEST_CASE("grow, shrink and resize change the worker processes") {
  fp::process_pool pool(small(1));
  worker_counts workers(pool);
  pool.start();
  pool.grow(2);
  CHECK(pool.num_processes() == 3);
  CHECK(workers.wait_started(3));
  CHECK(pool.worker_pids().size() == 3);
  pool.resize(1);
  CHECK(workers.wait_exited(2));
  CHECK(pool.worker_pids().size() == 1);
  CHECK(pool.info().workers_lost == 0);
  CHECK(pool.apply("echo", "1").get() == "1");
}

TEST_CASE("register_with_event_loop: the parent's side runs on the host loop's thread") {
  boost::asio::io_context io;
  fp::asio_event_loop loop(io);
  fp::process_pool pool(small(2, 2));
  pool.register_with_event_loop(loop);
  CHECK_THROWS_AS(pool.register_with_event_loop(loop), fp::error);
  const auto host = std::this_thread::get_id();
  std::atomic<int> ended{0}, off_host{0};
  fp::job_options counted;
  counted.on_ended = [&](fp::job_id, fp::job_state, std::exception_ptr) {
    ++ended;
    if (std::this_thread::get_id() != host) ++off_host;
  };
  pool.start();  // waits for the workers' hello, driving the hosted runtime itself
  CHECK(pool.did_start_ok());
  CHECK_THROWS_WITH_AS(pool.register_with_event_loop(loop), doctest::Contains("before start()"), fp::error);
  std::vector<fp::job<std::string>> jobs;
  for (int i = 0; i < 20; ++i) jobs.push_back(pool.apply("echo", std::to_string(i), counted));
  auto run_loop_until = [&](auto done) {
    for (auto until = fp::clock::now() + 30s; !done() && fp::clock::now() < until;) io.run_one_for(10ms);
    return done();
  };
  // Only the loop runs the parent's side: the jobs end inside io's runs, on this thread.
  REQUIRE(run_loop_until([&] { return ended.load() == 20; }));
  for (int i = 0; i < 20; ++i) CHECK(jobs[i].get() == std::to_string(i));
  auto crash = pool.apply("abort", "", counted);
  REQUIRE(run_loop_until([&] { return ended.load() == 21; }));
  CHECK(off_host.load() == 0);
  CHECK_THROWS_AS(crash.get(), fp::worker_lost);
  // The lost worker is replaced by the loop-driven side too.
  CHECK(run_loop_until([&] { return pool.did_start_ok() && pool.worker_pids().size() == 2; }));
  CHECK(pool.info().workers_lost == 1);
  pool.stop();  // on the loop's thread: drives the runtime while the workers exit
  CHECK(pool.state() == fp::pool_state::stopped);
  CHECK(pool.worker_pids().empty());
}

TEST_CASE("workers start safely while other threads hammer malloc and the logger (restart x 100)") {
  fp::process_pool pool(small(1));
  pool.start();
  std::atomic<bool> done{false};
  auto log = std::make_shared<spdlog::logger>("hammer", std::make_shared<spdlog::sinks::null_sink_mt>());
  std::vector<std::thread> hammers;
  for (int t = 0; t < 2; ++t)
    hammers.emplace_back([&] {
      while (!done.load()) {
        std::vector<std::string> v(64, std::string(100, 'x'));
        log->info("hammering {}", v.size());
      }
    });
  std::set<int> seen;
  for (int i = 0; i < 100; ++i) {
    pool.restart();
    auto pids = pool.worker_pids();
    seen.insert(pids.begin(), pids.end());
  }
  CHECK(pool.apply("echo", "alive").get() == "alive");
  done = true;
  for (auto& h : hammers) h.join();
  CHECK(seen.size() >= 100);
}

TEST_CASE("workers whose parent is killed (SIGKILL, no destructor) exit at once") {
  // This test process adopts the orphans (a subreaper), so it can reap them and see them go.
  REQUIRE(::prctl(PR_SET_CHILD_SUBREAPER, 1) == 0);
  int pipe_fds[2];
  REQUIRE(::pipe(pipe_fds) == 0);
  // Everything the child needs is built before fork(): between fork() and exec only
  // async-signal-safe calls.
  std::string fd_var = "PROCESS_TEST_PARENT_FD=" + std::to_string(pipe_fds[1]);
  std::vector<char*> env;
  for (char** e = environ; *e; ++e) env.push_back(*e);
  env.push_back(fd_var.data());
  env.push_back(nullptr);
  char name[] = "test-process_pool";
  char* args[] = {name, nullptr};
  pid_t helper = ::fork();
  REQUIRE(helper >= 0);
  if (helper == 0) {
    ::close(pipe_fds[0]);
    ::execve("/proc/self/exe", args, env.data());
    ::_exit(127);
  }
  ::close(pipe_fds[1]);
  std::string line;
  char c;
  while (::read(pipe_fds[0], &c, 1) == 1 && c != '\n') line += c;
  ::close(pipe_fds[0]);
  std::vector<int> workers;
  for (std::size_t at = 0, end; (end = line.find(' ', at)) != std::string::npos; at = end + 1)
    workers.push_back(std::stoi(line.substr(at, end - at)));
  REQUIRE(workers.size() == 2);
  ::kill(helper, SIGKILL);
  REQUIRE(::waitpid(helper, nullptr, 0) == helper);
  for (int w : workers) {
    CAPTURE(w);
    int status = 0;
    pid_t got = 0;
    // Each is blocked in a job of a minute: only its socket's end can make it exit this soon.
    for (auto until = fp::clock::now() + 30s; fp::clock::now() < until && got == 0;) {
      got = ::waitpid(w, &status, WNOHANG);
      if (got == 0) std::this_thread::sleep_for(1ms);
    }
    CHECK(got == w);
    CHECK(WIFEXITED(status));
  }
  ::prctl(PR_SET_CHILD_SUBREAPER, 0);
}

TEST_CASE("the destructor leaves no worker process behind, even with jobs running") {
  std::vector<int> pids;
  {
    fp::process_pool pool(small(2));
    pool.start();
    auto j = pool.apply("spin", "");
    pids = pool.worker_pids();
  }
  for (int p : pids) CHECK_FALSE(process_exists(p));
}

namespace {

// control_ask: one request over a control socket, the reply line (a plain blocking client).
std::string control_ask(const std::string& path, const std::string& request) {
  int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_un a{};
  a.sun_family = AF_UNIX;
  std::snprintf(a.sun_path, sizeof a.sun_path, "%s", path.c_str());
  REQUIRE(::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0);
  const std::string line = request + "\n";
  REQUIRE(::send(fd, line.data(), line.size(), MSG_NOSIGNAL) == static_cast<ssize_t>(line.size()));
  std::string reply;
  char c;
  while (::recv(fd, &c, 1, 0) == 1 && c != '\n') reply += c;
  ::close(fd);
  return reply;
}

}  // namespace

TEST_CASE("process_pool: stats(), prometheus_text() and the control socket count its jobs and processes") {
  fp::process_pool pool(small(1, 2));
  pool.start();
  CHECK(pool.apply("echo", "x").get() == "x");
  auto s = pool.stats();
  CHECK(s.applied == 1);
  CHECK(s.run_seconds.count == 1);
  CHECK(s.info.succeeded == 1);
  CHECK(fp::prometheus_text().find("fiberpool_pool_applied_total{pool=\"test\"} 1\n") != std::string::npos);

  fp::runtime rt;
  fp::control_options co;
  co.path = "/tmp/fiberpool-test-pp-" + std::to_string(::getpid()) + ".sock";
  fp::control_server server(rt, co);
  // grow counts worker processes, not the inner pool's slots (processes x jobs_per_process).
  const std::string grown = control_ask(co.path, R"({"cmd":"grow","pool":"test","n":1})");
  CAPTURE(grown);
  CHECK(grown.find(R"("counts":"processes")") != std::string::npos);
  CHECK(grown.find(R"("limit_before":1)") != std::string::npos);
  CHECK(pool.num_processes() == 2);
  CHECK(pool.info().limit == 4);
  const std::string stats = control_ask(co.path, R"({"cmd":"stats","pool":"test"})");
  CHECK(stats.find(R"("applied":1)") != std::string::npos);
  CHECK(stats.find(R"("succeeded":1)") != std::string::npos);

  // dump_jobs() and inspect show the worker running a job, as process_pool::jobs() does.
  auto slow = pool.apply("sleep", "60000");
  while (pool.jobs().empty() || pool.jobs()[0].worker_pid == 0) std::this_thread::sleep_for(1ms);
  const std::string pid = std::to_string(pool.jobs()[0].worker_pid);
  CAPTURE(pid);
  CHECK(fp::dump_jobs().find(" in worker pid " + pid + "\n") != std::string::npos);
  const std::string active = control_ask(co.path, R"({"cmd":"inspect","what":"active","pool":"test"})");
  CAPTURE(active);
  CHECK(active.find("\"worker_pid\":" + pid) != std::string::npos);
  CHECK(pool.terminate_job(slow.id()));
  CHECK_THROWS(slow.get());
  pool.stop();
}
