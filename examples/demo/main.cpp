// fiberpool-demo: simulated I/O jobs on a live-resized task_pool, a stuck job killed, and the books checked.
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <exception>
#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include <spdlog/spdlog.h>

#include <fiberpool/fiberpool.hpp>

#include "command_line.hpp"
#include "console.hpp"
#include "ledger.hpp"
#include "report.hpp"
#include "workload.hpp"

namespace {

using namespace std::chrono_literals;
using fiberpool::clock;
using fiberpool::job_state;
using fiberpool::task_pool;
using log_ptr = std::shared_ptr<spdlog::logger>;

constexpr double fail_rate = 0.02;              // share of jobs whose simulated I/O fails
constexpr clock::duration progress_period = 250ms;

double seconds_since(clock::time_point t) { return std::chrono::duration<double>(clock::now() - t).count(); }

// log_pool_signals: connects receivers to the pool's signal_bus. Receivers run on whichever thread
// emits: pool_started, the shutdown pair and pool_resized on the caller of start(), stop() and
// grow()/shrink()/resize(); job_started and job_ended on the scheduler thread running the job.
void log_pool_signals(task_pool& pool, const log_ptr& log, demo::job_ledger& ledger) {
  auto& sig = pool.signals();
  // The connections are not kept: the receivers live as long as the pool, and everything they
  // use (the logger, the ledger) outlives it.
  sig.pool_started.connect([log](task_pool& p) {
    SPDLOG_LOGGER_INFO(log, "signal pool_started: limit {}, {} thread(s)", p.limit(), p.num_processes());
  });
  sig.pool_resized.connect([log](task_pool& p, std::size_t old_limit, std::size_t new_limit) {
    SPDLOG_LOGGER_INFO(log, "signal pool_resized: limit {} -> {} ({} running, {} waiting)", old_limit, new_limit,
                       p.running(), p.waiting());
  });
  sig.pool_preshutdown.connect([log](task_pool& p) {
    SPDLOG_LOGGER_INFO(log, "signal pool_preshutdown: {} running, {} waiting", p.running(), p.waiting());
  });
  sig.pool_postshutdown.connect([log](task_pool& p) {
    SPDLOG_LOGGER_INFO(log, "signal pool_postshutdown: pool is {}", fiberpool::to_string(p.state()));
  });
  sig.job_started.connect([&ledger](task_pool&, fiberpool::job_id) { ledger.on_started(); });
  sig.job_ended.connect([log, &ledger](task_pool&, fiberpool::job_id id, job_state end) {
    if (end != job_state::cancelled) ledger.on_stopped();  // a cancelled job never started
    // Thousands of jobs succeed or fail; a kill or a cancellation is the news worth a line.
    if (end == job_state::terminated || end == job_state::cancelled)
      SPDLOG_LOGGER_INFO(log, "signal job_ended: job {} ended {}", id, fiberpool::to_string(end));
  });
}

// job_options for job number `index`: a name for logs and jobs(), and an on_ended callback that
// fiberpool calls exactly once, whatever the end, so the ledger can prove no job was lost.
fiberpool::job_options options_for(std::string name, std::size_t index, demo::job_ledger& ledger) {
  fiberpool::job_options o;
  o.name = std::move(name);
  o.on_ended = [&ledger, index](fiberpool::job_id, job_state end, std::exception_ptr) {
    ledger.job_ended(index, end);
  };
  return o;
}

// apply_stuck_job: a job that waits on an event nobody sets. The wait is a cancellation point, so
// terminate_job() can still kill it; a job stuck in a CPU loop or a raw Boost.Fiber wait could not.
fiberpool::job<void> apply_stuck_job(task_pool& pool, fiberpool::event& never_set, demo::job_ledger& ledger) {
  return pool.apply(options_for("stuck", 0, ledger), [&never_set] { never_set.wait(); });
}

// apply_work: queues every planned job at once; the pool starts them as its limit allows. The
// handles apply() returns are dropped: that does not affect the jobs, and on_ended reports them.
void apply_work(task_pool& pool, const std::vector<demo::job_plan>& plans, demo::job_ledger& ledger) {
  for (std::size_t i = 0; i < plans.size(); ++i)
    pool.apply(options_for("io-" + std::to_string(i + 1), i + 1, ledger),
               [plan = plans[i]] { demo::run_job_plan(plan); });
}

// kill_stuck_job: finds the job in jobs() as an operator would, kills it by its id, and shows what
// its handle reports afterwards.
void kill_stuck_job(task_pool& pool, fiberpool::job<void>& stuck, const log_ptr& log) {
  for (const fiberpool::job_info& j : pool.jobs()) {
    if (j.id != stuck.id() || !j.started_at) continue;
    SPDLOG_LOGGER_INFO(log, "job {} '{}' has been {} for {:.2f} s; killing it with terminate_job({})", j.id,
                       j.name, fiberpool::to_string(j.state), seconds_since(*j.started_at), j.id);
  }
  bool killed = pool.terminate_job(stuck.id());
  // wait() returns once the kill has unwound the job; its job_ended is logged by then.
  stuck.wait();
  try {
    stuck.get();
  } catch (const fiberpool::job_terminated& e) {  // not a std::exception, on purpose
    SPDLOG_LOGGER_INFO(log, "terminate_job returned {}; the job ended {} and get() throws job_terminated "
                       "(signal {})", killed, fiberpool::to_string(stuck.state()), e.signal());
  }
}

// resize_live: one step of the resize plan, called from the main thread while jobs run.
void resize_live(task_pool& pool, const demo::resize_step& step, const log_ptr& log) {
  switch (step.how) {
    case demo::resize_kind::grow:
      SPDLOG_LOGGER_INFO(log, "grow({}): {}", step.amount, step.why);
      pool.grow(step.amount);
      break;
    case demo::resize_kind::shrink:
      SPDLOG_LOGGER_INFO(log, "shrink({}): {}", step.amount, step.why);
      pool.shrink(step.amount);
      break;
    case demo::resize_kind::resize:
      SPDLOG_LOGGER_INFO(log, "resize({}): {}", step.amount, step.why);
      pool.resize(step.amount);
      break;
  }
}

struct timed_action {
  clock::duration at;  // since the start of the run
  std::function<void()> run;
};

// timeline: what the main thread does while jobs run, in order: resize steps at their share of
// the target duration, and the kill after about a second (sooner for a very short run).
std::vector<timed_action> timeline(task_pool& pool, fiberpool::job<void>& stuck, double seconds, const log_ptr& log) {
  auto at = [seconds](double share) {
    return std::chrono::duration_cast<clock::duration>(std::chrono::duration<double>(seconds * share));
  };
  std::vector<timed_action> actions;
  actions.push_back({std::min<clock::duration>(1s, at(0.25)), [&pool, &stuck, log] { kill_stuck_job(pool, stuck, log); }});
  for (const demo::resize_step& step : demo::resize_plan)
    actions.push_back({at(step.at), [&pool, &step, log] { resize_live(pool, step, log); }});
  std::stable_sort(actions.begin(), actions.end(), [](const auto& a, const auto& b) { return a.at < b.at; });
  return actions;
}

demo::progress snapshot(const task_pool& pool, clock::time_point started, std::size_t total) {
  fiberpool::pool_info info = pool.info();  // one consistent snapshot rather than four calls
  return {seconds_since(started), info.succeeded + info.failed + info.terminated + info.cancelled, total,
          info.running, info.waiting, info.limit};
}

// drive: the main thread's part while the jobs run: timed actions and the progress line, until
// every job has ended.
void drive(task_pool& pool, std::vector<timed_action> actions, clock::time_point started, std::size_t total,
           const demo::progress_line& progress, const log_ptr& log) {
  std::size_t next = 0;
  clock::time_point next_tick = started;
  for (;;) {
    for (; next < actions.size() && clock::now() >= started + actions[next].at; ++next) actions[next].run();
    if (clock::now() >= next_tick) {
      progress.show(snapshot(pool, started, total));
      // Skip ticks missed during a slow action rather than print a burst of catch-up lines.
      while (next_tick <= clock::now()) next_tick += progress_period;
    }
    clock::time_point wake = next < actions.size() ? std::min(next_tick, started + actions[next].at) : next_tick;
    // waitall_for doubles as the loop's sleep: it returns early, with true, once nothing is queued
    // or running. From a plain thread it blocks the thread; from a fiber it would suspend only that.
    if (pool.waitall_for(wake - clock::now())) break;
  }
  if (next < actions.size())
    SPDLOG_LOGGER_INFO(log, "all jobs ended early: {} planned step(s) skipped", actions.size() - next);
  progress.finish(snapshot(pool, started, total));
}

// run: the whole demo; returns the exit code (1 if the accounting does not add up).
int run(const demo::demo_options& opts, const log_ptr& log, bool terminal) {
  std::vector<demo::job_plan> plans = demo::plan_jobs(opts.jobs, opts.seconds, fail_rate);
  demo::run_results r;
  r.applied = plans.size() + 1;
  r.planned_failures = static_cast<std::size_t>(
      std::count_if(plans.begin(), plans.end(), [](const demo::job_plan& p) { return p.fail_after >= 0; }));
  r.largest_limit = demo::largest_limit();

  // Declared before the pool, so they outlive every job and receiver that refers to them.
  demo::job_ledger ledger(r.applied);
  fiberpool::event never_set;

  fiberpool::pool_options po;
  po.name = "demo";
  po.limit = demo::initial_limit;
  po.threads = opts.threads;
  po.logger = log;  // the pool logs its lifecycle and receiver errors here
  task_pool pool(po);
  log_pool_signals(pool, log, ledger);

  SPDLOG_LOGGER_INFO(log, "{} jobs of simulated I/O ({:.0f}% planned to fail) and 1 stuck job, target {:.1f} s",
                     opts.jobs, fail_rate * 100, opts.seconds);
  clock::time_point started = clock::now();
  pool.start();
  fiberpool::job<void> stuck = apply_stuck_job(pool, never_set, ledger);  // first, so it starts at once
  apply_work(pool, plans, ledger);

  drive(pool, timeline(pool, stuck, opts.seconds, log), started, r.applied, demo::progress_line(terminal), log);

  pool.stop();  // nothing is left to wait for, but stop() is what emits the shutdown signals
  r.elapsed_s = seconds_since(started);
  r.info = pool.info();
  r.stuck_end = stuck.state();
  demo::print_results(r, ledger);
  auto errors = demo::accounting_errors(r, ledger);
  for (const std::string& e : errors) std::fprintf(stderr, "accounting error: %s\n", e.c_str());
  if (errors.empty()) std::printf("accounting OK: every applied job ended exactly once\n");
  return errors.empty() ? 0 : 1;
}

}  // namespace

int main(int argc, char** argv) {
  demo::parsed_command_line cl = demo::parse_command_line(argc, argv);
  if (cl.exit_code) return *cl.exit_code;

  bool terminal = isatty(STDOUT_FILENO) == 1;
  log_ptr log = demo::make_console_logger(terminal);
  // The library-wide default too: runtimes and stacks, which belong to no pool, log there.
  fiberpool::set_logger(log);
  try {
    return run(cl.options, log, terminal);
  } catch (const std::exception& e) {
    SPDLOG_LOGGER_ERROR(log, "the demo failed: {}", e.what());
    return 1;
  }
}
