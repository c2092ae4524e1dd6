// fiberpool-demo: a loopback echo server (io::serve) whose connections are jobs of a live-resized
// task_pool with fewer slots than clients, driven by a pool of client jobs; a stuck connection
// killed by id, and the books checked.
#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <exception>
#include <memory>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include <spdlog/spdlog.h>

#include <fiberpool/control.hpp>
#include <fiberpool/fiberpool.hpp>
#include <fiberpool/metrics_http.hpp>

#include "command_line.hpp"
#include "console.hpp"
#include "ledger.hpp"
#include "load.hpp"
#include "report.hpp"
#include "server.hpp"

namespace {

using namespace std::chrono_literals;
using fiberpool::clock;
using fiberpool::job_state;
using fiberpool::task_pool;
using log_ptr = std::shared_ptr<spdlog::logger>;

constexpr clock::duration progress_period = 250ms;
constexpr clock::duration stuck_served_patience = 10s;  // for the stuck connection's job to appear
constexpr clock::duration kill_retry = 100ms;      // the stuck connection is not accepted yet
constexpr std::size_t failures_logged = 5;         // per pool; the table counts the rest
constexpr std::size_t spare_fds = 64;              // stdio, the listener, the runtimes' epoll fds

double seconds_since(clock::time_point t) { return std::chrono::duration<double>(clock::now() - t).count(); }

// raise_fd_limit: every connection costs two descriptors (the client's and the server's socket),
// more than the usual soft limit of 1,024 allows. Raises the soft limit to the hard one; false,
// with a message, if even that is too low.
bool raise_fd_limit(std::size_t needed, const log_ptr& log) {
  rlimit rl{};
  if (getrlimit(RLIMIT_NOFILE, &rl) != 0) return true;  // cannot tell: try anyway
  rlim_t was = rl.rlim_cur;
  rl.rlim_cur = rl.rlim_max;
  if (rl.rlim_cur != was && setrlimit(RLIMIT_NOFILE, &rl) != 0) rl.rlim_cur = was;
  if (rl.rlim_cur != was)
    SPDLOG_LOGGER_INFO(log, "file descriptors: soft limit raised from {} to {} (the hard limit); {} needed", was,
                       rl.rlim_cur, needed);
  if (rl.rlim_cur == RLIM_INFINITY || rl.rlim_cur >= needed) return true;
  SPDLOG_LOGGER_ERROR(log, "{} connections need {} file descriptors, but the hard limit is {}: use --connections {} "
                      "or less, or raise the limit (ulimit -Hn)", (needed - spare_fds) / 2 - 1, needed, rl.rlim_cur,
                      rl.rlim_cur > spare_fds + 2 ? (rl.rlim_cur - spare_fds) / 2 - 1 : 0);
  return false;
}

// describe: what an on_ended exception_ptr holds, for a log line.
std::string describe(const std::exception_ptr& e) {
  if (!e) return "no exception";
  try {
    std::rethrow_exception(e);
  } catch (const std::exception& x) {
    return x.what();
  } catch (const fiberpool::job_terminated& x) {  // not a std::exception, on purpose
    return x.what();
  } catch (...) {
    return "an unknown exception";
  }
}

// log_pool_signals: connects receivers to a pool's signal_bus. Receivers run on whichever thread
// emits: pool_started, the shutdown pair and pool_resized on the caller of start(), stop() and
// grow()/shrink()/resize(); job_started and job_ended on the scheduler thread running the job.
void log_pool_signals(task_pool& pool, const log_ptr& log, demo::job_ledger& ledger) {
  auto& sig = pool.signals();
  // The connections are not kept: the receivers live as long as the pool, and everything they
  // use (the logger, the ledger) outlives it.
  sig.pool_started.connect([log](task_pool& p) {
    SPDLOG_LOGGER_INFO(log, "signal pool_started: pool '{}', limit {}, {} thread(s)", p.name(), p.limit(),
                       p.num_processes());
  });
  sig.pool_resized.connect([log](task_pool& p, std::size_t old_limit, std::size_t new_limit) {
    SPDLOG_LOGGER_INFO(log, "signal pool_resized: pool '{}', limit {} -> {} ({} running, {} queued)", p.name(),
                       old_limit, new_limit, p.running(), p.waiting());
  });
  sig.pool_preshutdown.connect([log](task_pool& p) {
    SPDLOG_LOGGER_INFO(log, "signal pool_preshutdown: pool '{}', {} running, {} queued", p.name(), p.running(),
                       p.waiting());
  });
  sig.pool_postshutdown.connect([log](task_pool& p) {
    SPDLOG_LOGGER_INFO(log, "signal pool_postshutdown: pool '{}' is {}", p.name(), fiberpool::to_string(p.state()));
  });
  sig.job_started.connect([&ledger](task_pool&, fiberpool::job_id) { ledger.on_started(); });
  sig.job_ended.connect([log, &ledger](task_pool& p, fiberpool::job_id id, job_state end) {
    if (end != job_state::cancelled) ledger.on_stopped();  // a cancelled job never started
    // Thousands of connections succeed; a kill or a cancellation is the news worth a line.
    if (end == job_state::terminated || end == job_state::cancelled)
      SPDLOG_LOGGER_INFO(log, "signal job_ended: pool '{}', job {} ended {}", p.name(), id, fiberpool::to_string(end));
  });
}

// job_options_for: the options factory of one pool. Every job gets a name (for logs and jobs();
// serve() names a connection's job after its client when the name is empty) and an on_ended
// callback, which fiberpool calls exactly once whatever the end, so the ledger can prove no job
// was lost. The first few failures are logged with their reason.
demo::options_factory job_options_for(demo::job_ledger& ledger, const log_ptr& log,
                                      std::atomic<std::size_t>& failures) {
  return [&ledger, log, &failures](std::string name) {
    fiberpool::job_options o;
    o.name = name;
    o.on_ended = [&ledger, log, &failures, name = std::move(name)](fiberpool::job_id id, job_state end,
                                                                    std::exception_ptr e) {
      ledger.job_ended(id, end);
      if (end == job_state::failed && failures.fetch_add(1) < failures_logged)
        SPDLOG_LOGGER_WARN(log, "job {} '{}' failed: {}", id, name.empty() ? "a connection" : name, describe(e));
    };
    return o;
  };
}

fiberpool::pool_options pool_options_for(std::string name, std::size_t limit, std::size_t threads,
                                         const log_ptr& log) {
  fiberpool::pool_options po;
  po.name = std::move(name);
  po.limit = limit;
  po.threads = threads;
  po.logger = log;  // the pool logs its lifecycle and receiver errors here
  return po;
}

// kill_stuck_connection: finds the server job of the stuck client's connection in jobs(), as an
// operator would, and kills it by its id. false if that connection is not being served yet.
std::optional<fiberpool::job_id> kill_stuck_connection(task_pool& server_pool, const demo::load_generator& load,
                                                      demo::job_ledger& ledger, const log_ptr& log) {
  std::optional<std::uint16_t> port = load.stuck_port();
  if (!port) return std::nullopt;
  std::optional<fiberpool::job_info> j = demo::echo_server::find_connection(server_pool, *port);
  if (!j || !j->started_at) return std::nullopt;
  SPDLOG_LOGGER_INFO(log, "job {} '{}' has been {} for {:.2f} s without receiving a byte; killing it with "
                     "terminate_job({})", j->id, j->name, fiberpool::to_string(j->state),
                     seconds_since(*j->started_at), j->id);
  ledger.watch(j->id);
  bool killed = server_pool.terminate_job(j->id);
  SPDLOG_LOGGER_INFO(log, "terminate_job({}) returned {}: the job unwinds out of its read, closes the socket and "
                     "frees its slot", j->id, killed);
  return j->id;
}

// resize_live: one step of the resize plan, called from the main thread while connections run.
// Returns the call, for the timeline.
std::string resize_live(task_pool& pool, const demo::resize_step& step, const log_ptr& log) {
  std::string call;
  switch (step.how) {
    case demo::resize_kind::grow:
      call = "grow(" + std::to_string(step.amount) + ")";
      SPDLOG_LOGGER_INFO(log, "{}: {}", call, step.why);
      pool.grow(step.amount);
      break;
    case demo::resize_kind::shrink:
      call = "shrink(" + std::to_string(step.amount) + ")";
      SPDLOG_LOGGER_INFO(log, "{}: {}", call, step.why);
      pool.shrink(step.amount);
      break;
    case demo::resize_kind::resize:
      call = "resize(" + std::to_string(step.amount) + ")";
      SPDLOG_LOGGER_INFO(log, "{}: {}", call, step.why);
      pool.resize(step.amount);
      break;
  }
  return call + ": limit " + std::to_string(pool.limit());
}

// What the main thread watches and does while the clients run.
struct run_context {
  task_pool& server_pool;
  task_pool& load_pool;
  const demo::echo_server& server;
  const demo::load_generator& load;
  demo::job_ledger& server_ledger;
  const demo::load_stats& stats;
  const demo::limit_plan& limits;
  std::size_t connections;
  double seconds;
  clock::time_point started;
};

// timeline_period: a row every half second, at most about a dozen rows for a long run.
clock::duration timeline_period(double seconds) {
  return std::max<clock::duration>(500ms, std::chrono::duration_cast<clock::duration>(
                                              std::chrono::duration<double>(seconds / 12)));
}

// drive: the main thread's part while the clients run: the kill, the resize steps, the progress
// line and the timeline, until every client job has ended.
std::vector<demo::timeline_row> drive(const run_context& c, const demo::progress_line& progress, const log_ptr& log) {
  auto at = [&c](double share) {
    return c.started + std::chrono::duration_cast<clock::duration>(std::chrono::duration<double>(c.seconds * share));
  };
  clock::time_point kill_at = std::min(c.started + 1s, at(0.2));
  bool killed = false;
  std::size_t next_step = 0;
  clock::time_point next_tick = c.started + progress_period, last_tick = c.started;
  const clock::duration row_period = timeline_period(c.seconds);
  clock::time_point next_row = c.started + row_period, last_row = c.started;
  std::size_t last_messages = 0, row_messages = 0;
  std::vector<demo::timeline_row> timeline;
  std::string notes;  // what happened since the last row
  auto note = [&notes](const std::string& what) { notes += (notes.empty() ? "" : "; ") + what; };
  auto rate_since = [&c](std::size_t& last, clock::time_point since, clock::time_point now) {
    std::size_t messages = c.stats.messages.load();
    double dt = std::chrono::duration<double>(now - since).count();
    double rate = dt > 0 ? static_cast<double>(messages - last) / dt : 0;
    last = messages;
    return rate;
  };
  auto waiting = [&c] { return c.server.backlog(); };
  auto snapshot = [&](clock::time_point now) {
    fiberpool::pool_info info = c.server_pool.info();  // one consistent snapshot rather than several calls
    demo::progress p{seconds_since(c.started), info.limit, info.running, waiting(), c.stats.messages.load(),
                     rate_since(last_messages, last_tick, now)};
    last_tick = now;
    return p;
  };
  auto add_row = [&](clock::time_point now) {
    fiberpool::pool_info info = c.server_pool.info();
    timeline.push_back({seconds_since(c.started), info.limit, info.running, waiting(),
                        rate_since(row_messages, last_row, now), std::exchange(notes, {})});
    last_row = now;
  };
  {
    fiberpool::pool_info info = c.server_pool.info();
    timeline.push_back({0, info.limit, info.running, waiting(), 0, "clients start"});
  }
  for (;;) {
    clock::time_point now = clock::now();
    // A row first: it shows the state before an action due now, and the next row its effect.
    if (now >= next_row) {
      add_row(now);
      while (next_row <= clock::now()) next_row += row_period;
    }
    if (!killed && now >= kill_at) {
      if (auto id = kill_stuck_connection(c.server_pool, c.load, c.server_ledger, log)) {
        killed = true;
        note("terminate_job(" + std::to_string(*id) + ")");
      } else {
        kill_at = now + kill_retry;
      }
    }
    for (; next_step < c.limits.steps.size() && now >= at(c.limits.steps[next_step].at); ++next_step)
      note(resize_live(c.server_pool, c.limits.steps[next_step], log));
    if (now >= next_tick) {
      progress.show(snapshot(now));
      // Skip ticks missed during a slow action rather than print a burst of catch-up lines.
      while (next_tick <= clock::now()) next_tick += progress_period;
    }
    clock::time_point wake = std::min(next_tick, next_row);
    if (!killed) wake = std::min(wake, kill_at);
    if (next_step < c.limits.steps.size()) wake = std::min(wake, at(c.limits.steps[next_step].at));
    // waitall_for doubles as the loop's sleep: it returns early, with true, once no client job
    // is queued or running. From a plain thread it blocks the thread.
    if (c.load_pool.waitall_for(wake - clock::now())) break;
  }
  if (next_step < c.limits.steps.size())
    SPDLOG_LOGGER_INFO(log, "the clients ended early: {} resize step(s) skipped", c.limits.steps.size() - next_step);
  note("clients done");
  add_row(clock::now());
  progress.finish(snapshot(clock::now()));
  return timeline;
}

// ctl_path: fiberpool-ctl as built beside this demo (build/tools/fiberpool-ctl), else the one on PATH.
std::string ctl_path() {
  char self[4096];
  ssize_t n = ::readlink("/proc/self/exe", self, sizeof self - 1);
  if (n > 0) {
    std::string dir(self, static_cast<std::size_t>(n));
    dir = dir.substr(0, dir.rfind('/'));  // build/examples/demo
    std::string built = dir + "/../../tools/fiberpool-ctl/fiberpool-ctl";
    if (char real[4096]; ::realpath(built.c_str(), real) && ::access(real, X_OK) == 0) return real;
  }
  return "fiberpool-ctl";
}

// operator_commands: what to paste into a second terminal while the demo runs.
void print_operator_commands(const fiberpool::control_server& control, const fiberpool::metrics_server& metrics,
                             double seconds) {
  const std::string ctl = ctl_path() + " -s " + control.path();
  std::printf("operate the server from a second terminal while it runs (%.0f s; --seconds 60 for longer):\n"
              "    %s inspect active echo-server\n"
              "    %s stats\n"
              "    %s dump\n"
              "    %s grow echo-server 100\n"
              "    curl -s http://127.0.0.1:%u/metrics\n"
              "    curl -s http://127.0.0.1:%u/jobs\n",
              seconds, ctl.c_str(), ctl.c_str(), ctl.c_str(), ctl.c_str(), metrics.port(), metrics.port());
  std::fflush(stdout);
}

// wait_until_served: the stuck client's connection is being served (its job is in jobs()), so that
// it holds a slot from the start, as a hung client of a real server would. false after `patience`.
bool wait_until_served(task_pool& server_pool, const demo::load_generator& load, clock::duration patience) {
  clock::time_point give_up = clock::now() + patience;
  while (clock::now() < give_up) {
    if (auto port = load.stuck_port(); port && demo::echo_server::find_connection(server_pool, *port)) return true;
    std::this_thread::sleep_for(5ms);  // a person watching ps, not a wait on the pool
  }
  return false;
}

// run: the whole demo; returns the exit code (1 if the accounting does not add up).
int run(const demo::demo_options& opts, const log_ptr& log, bool terminal) {
  if (!raise_fd_limit(2 * (opts.connections + 1) + spare_fds, log)) return 1;
  demo::limit_plan limits = demo::plan_limits(opts.connections);

  // Declared before the pools, so they outlive every job and receiver that refers to them: a
  // pool's destructor waits for its jobs.
  demo::job_ledger server_ledger, load_ledger;
  std::atomic<std::size_t> server_failures{0}, load_failures{0};
  demo::load_stats stats;
  clock::time_point started = clock::now();
  clock::time_point stop_at = started + std::chrono::duration_cast<clock::duration>(
                                            std::chrono::duration<double>(opts.seconds));
  demo::echo_server server(job_options_for(server_ledger, log, server_failures)(""));
  demo::load_generator load(job_options_for(load_ledger, log, load_failures), server.port(), stop_at, opts.seconds,
                           stats);

  task_pool server_pool(pool_options_for("echo-server", limits.initial, opts.threads, log));
  task_pool load_pool(pool_options_for("load", opts.connections + 1, opts.threads, log));
  // An operator's view of the running server: fiberpool-ctl over a Unix socket (this uid only) and
  // Prometheus over HTTP on loopback, both served by fibers of the server pool's own runtime.
  fiberpool::control_options control_opts;
  control_opts.path = "/tmp/fiberpool-demo-" + std::to_string(::getpid()) + ".sock";
  fiberpool::control_server control(server_pool.runtime(), control_opts);
  fiberpool::metrics_server metrics(server_pool.runtime(), "127.0.0.1", 0);
  print_operator_commands(control, metrics, opts.seconds);
  log_pool_signals(server_pool, log, server_ledger);
  log_pool_signals(load_pool, log, load_ledger);

  SPDLOG_LOGGER_INFO(log, "echo server on 127.0.0.1:{}: {} clients open connection after connection for {:.1f} s, "
                     "each a session of 64-byte round trips; one more connects and never sends", server.port(),
                     opts.connections, opts.seconds);
  SPDLOG_LOGGER_INFO(log, "the server pool's limit ({}) is below the clients ({}): it is the number of connections "
                     "served at once, and the rest wait in the listen backlog", limits.initial,
                     opts.connections + 1);
  server_pool.start();
  server.start(server_pool);
  SPDLOG_LOGGER_INFO(log, "io::serve() accepts on a fiber of the server pool's runtime that is not a job and holds no "
                     "slot: it accepts a connection only while the pool has a free slot, and each connection it "
                     "accepts is one job ('conn <client address>'), so the pool runs only connection jobs");
  load_pool.start();
  // First, so it holds a slot before the crowd comes; it waits at most until well after the
  // clients stop.
  load.start_stuck_client(load_pool, std::chrono::duration_cast<clock::duration>(
                                         std::chrono::duration<double>(opts.seconds + 15)));
  if (!wait_until_served(server_pool, load, stuck_served_patience))
    SPDLOG_LOGGER_WARN(log, "the stuck client's connection is not served yet; the clients start anyway");
  load.start_clients(load_pool, opts.connections);

  std::vector<demo::timeline_row> timeline =
      drive({server_pool, load_pool, server, load, server_ledger, stats, limits, opts.connections, opts.seconds, started},
            demo::progress_line(terminal), log);
  double sending_s = std::chrono::duration<double>(stop_at - started).count();

  // Every client has closed its connections, so the server's jobs are ending; stop() waits for
  // them and is what emits the shutdown signals. The acceptor is stopped first (or the pool's
  // stop() would stop it: a pool that shuts down ends the acceptors serving into it).
  server.stop_listening();
  server_pool.stop();
  load_pool.stop();

  demo::run_results r;
  r.elapsed_s = seconds_since(started);
  r.connections = opts.connections;
  r.sessions = stats.sessions.load();
  r.messages = stats.messages.load();
  r.p50_ms = stats.latency.percentile_us(50) / 1000;
  r.p99_ms = stats.latency.percentile_us(99) / 1000;
  r.wait_p50_ms = stats.wait.percentile_us(50) / 1000;
  r.wait_p99_ms = stats.wait.percentile_us(99) / 1000;
  r.timeline = std::move(timeline);
  r.sending_s = sending_s;
  r.largest_limit = limits.largest;
  r.stuck_end = server_ledger.watched_end();
  r.server = {"server", server_pool.info(), server.applied(), 1, &server_ledger};
  r.load = {"load", load_pool.info(), opts.connections + 1, 0, &load_ledger};
  demo::print_results(r);
  auto errors = demo::accounting_errors(r);
  for (const std::string& e : errors) std::fprintf(stderr, "accounting error: %s\n", e.c_str());
  if (errors.empty())
    std::printf("accounting OK: every applied job ended exactly once; the stuck connection's job ended terminated\n");
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
