// prometheus_text: every live runtime and pool of the process, in the text exposition format 0.0.4
// (https://prometheus.io/docs/instrumenting/exposition_formats/). Each family is written once, with
// its HELP and TYPE lines, followed by the samples of every pool (or runtime) that has it.
#include <fiberpool/metrics.hpp>

#include <cmath>
#include <functional>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include <spdlog/fmt/fmt.h>

#include <fiberpool/diagnostics.hpp>

#include "observe/pool_names.hpp"
#include "pool/pool_core.hpp"
#include "runtime/runtime_core.hpp"

namespace fiberpool {
namespace {

// A label value: backslash, double quote and line feed escaped, as the format requires.
std::string escaped(std::string_view v) {
  std::string out;
  out.reserve(v.size());
  for (char c : v) {
    if (c == '\\') out += "\\\\";
    else if (c == '"') out += "\\\"";
    else if (c == '\n') out += "\\n";
    else out += c;
  }
  return out;
}

// Go's strconv 'g' style, which Prometheus parses: 1e-06, 0.5, +Inf.
std::string number(double v) {
  if (std::isinf(v)) return v > 0 ? "+Inf" : "-Inf";
  if (std::isnan(v)) return "NaN";
  return fmt::format("{}", v);
}

std::vector<std::string> unique_names(const std::vector<std::string>& names) {
  std::map<std::string, int> seen;
  std::vector<std::string> out;
  for (const auto& n : names) out.push_back(observe::shown_name(seen, n));
  return out;
}

class exposition {
 public:
  void family(std::string_view name, std::string_view type, std::string_view help) {
    out_ += fmt::format("# HELP {} {}\n# TYPE {} {}\n", name, help, name, type);
  }
  void sample(std::string_view name, const std::string& labels, double v) {
    out_ += fmt::format("{}{{{}}} {}\n", name, labels, number(v));
  }
  void sample(std::string_view name, double v) { out_ += fmt::format("{} {}\n", name, number(v)); }
  void histogram_samples(std::string_view name, const std::string& labels, const histogram& h) {
    const std::string sep = labels.empty() ? "" : ",";
    for (std::size_t i = 0; i < h.upper_bounds.size(); ++i)
      out_ += fmt::format("{}_bucket{{{}{}le=\"{}\"}} {}\n", name, labels, sep, number(h.upper_bounds[i]), h.counts[i]);
    out_ += fmt::format("{}_sum{{{}}} {}\n", name, labels, number(h.sum));
    out_ += fmt::format("{}_count{{{}}} {}\n", name, labels, h.count);
  }
  std::string take() { return std::move(out_); }

 private:
  std::string out_;
};

struct pool_row {
  std::string labels;
  pool_stats stats;
};

struct runtime_row {
  std::string labels;
  runtime_stats stats;
};

template <class Row, class Value>
void gauge_family(exposition& x, const std::vector<Row>& rows, std::string_view name, std::string_view type,
                  std::string_view help, Value value) {
  if (rows.empty()) return;
  x.family(name, type, help);
  for (const auto& r : rows) x.sample(name, r.labels, static_cast<double>(value(r.stats)));
}

void write_pools(exposition& x, const std::vector<pool_row>& pools) {
  using S = pool_stats;
  gauge_family(x, pools, "fiberpool_pool_limit", "gauge", "Jobs the pool runs at once at most (its limit).",
               [](const S& s) { return s.info.limit; });
  gauge_family(x, pools, "fiberpool_pool_running_jobs", "gauge", "Jobs holding a slot now, inline children included.",
               [](const S& s) { return s.info.running; });
  gauge_family(x, pools, "fiberpool_pool_queued_jobs", "gauge", "Jobs waiting in the pool's queue for a slot.",
               [](const S& s) { return s.info.waiting; });
  gauge_family(x, pools, "fiberpool_pool_threads", "gauge", "Scheduler threads of the pool's runtime.",
               [](const S& s) { return s.info.threads; });
  gauge_family(x, pools, "fiberpool_pool_groups", "gauge", "Task groups the pool keeps.",
               [](const S& s) { return s.info.groups; });
  gauge_family(x, pools, "fiberpool_pool_applied_total", "counter", "Jobs apply() accepted.",
               [](const S& s) { return s.applied; });
  gauge_family(x, pools, "fiberpool_pool_started_total", "counter", "Jobs that got a slot and started.",
               [](const S& s) { return s.started; });
  gauge_family(x, pools, "fiberpool_pool_inline_runs_total", "counter",
               "Jobs run on their parent's fiber (applied by a job into its own full pool).",
               [](const S& s) { return s.inline_runs; });
  gauge_family(x, pools, "fiberpool_pool_rejected_total", "counter",
               "apply() calls refused: pool full (overflow::reject), closed or locked.",
               [](const S& s) { return s.rejected; });
  gauge_family(x, pools, "fiberpool_pool_workers_replaced_total", "counter",
               "process_pool: workers that exited and were replaced (0 for a task_pool).",
               [](const S& s) { return s.info.workers_replaced; });
  gauge_family(x, pools, "fiberpool_pool_workers_lost_total", "counter",
               "process_pool: workers that died with jobs or unasked (0 for a task_pool).",
               [](const S& s) { return s.info.workers_lost; });
  if (pools.empty()) return;
  x.family("fiberpool_pool_ended_total", "counter", "Jobs ended, by end state.");
  for (const auto& p : pools) {
    const auto& i = p.stats.info;
    x.sample("fiberpool_pool_ended_total", p.labels + ",state=\"succeeded\"", static_cast<double>(i.succeeded));
    x.sample("fiberpool_pool_ended_total", p.labels + ",state=\"failed\"", static_cast<double>(i.failed));
    x.sample("fiberpool_pool_ended_total", p.labels + ",state=\"terminated\"", static_cast<double>(i.terminated));
    x.sample("fiberpool_pool_ended_total", p.labels + ",state=\"cancelled\"", static_cast<double>(i.cancelled));
  }
  x.family("fiberpool_pool_state", "gauge", "1 for the state the pool is in, 0 for the others.");
  for (const auto& p : pools)
    for (auto st : {pool_state::created, pool_state::running, pool_state::closed, pool_state::stopped})
      x.sample("fiberpool_pool_state", p.labels + ",state=\"" + std::string(to_string(st)) + "\"",
               p.stats.info.state == st ? 1.0 : 0.0);
  x.family("fiberpool_pool_queue_wait_seconds", "histogram",
           "Time jobs spent in the pool's queue before they started (0 for a job that found a free slot).");
  for (const auto& p : pools) x.histogram_samples("fiberpool_pool_queue_wait_seconds", p.labels, p.stats.queue_wait_seconds);
  x.family("fiberpool_pool_run_seconds", "histogram", "Time from a job's start to its end.");
  for (const auto& p : pools) x.histogram_samples("fiberpool_pool_run_seconds", p.labels, p.stats.run_seconds);
}

void write_runtimes(exposition& x, const std::vector<runtime_row>& rts) {
  using S = runtime_stats;
  gauge_family(x, rts, "fiberpool_runtime_threads", "gauge", "Scheduler threads serving.",
               [](const S& s) { return s.threads; });
  gauge_family(x, rts, "fiberpool_runtime_ready_fibers", "gauge", "Fibers ready to run on the runtime's threads.",
               [](const S& s) { return s.ready; });
  gauge_family(x, rts, "fiberpool_runtime_switches_total", "counter", "Job fibers resumed by the runtime's threads.",
               [](const S& s) { return s.switches; });
  gauge_family(x, rts, "fiberpool_runtime_steals_total", "counter",
               "Ready fibers a thread took from another thread's queue.", [](const S& s) { return s.steals; });
  gauge_family(x, rts, "fiberpool_runtime_wakeups_total", "counter", "Times an idle thread woke from epoll_wait.",
               [](const S& s) { return s.wakeups; });
  if (rts.empty()) return;
  x.family("fiberpool_runtime_lag_seconds", "histogram",
           "How late the runtime's timers (time limits, timer entries) fired: scheduler lag.");
  for (const auto& r : rts) x.histogram_samples("fiberpool_runtime_lag_seconds", r.labels, r.stats.lag_seconds);
}

void write_process(exposition& x) {
  const auto c = diagnostics::snapshot();
  auto one = [&](std::string_view name, std::string_view help, std::size_t v) {
    x.family(name, "gauge", help);
    x.sample(name, static_cast<double>(v));
  };
  one("fiberpool_fibers", "Fibers alive in the process (carriers, hubs, feeders).", c.fibers);
  one("fiberpool_job_records", "Job records alive (held by a pool or a job handle).", c.job_records);
  one("fiberpool_stacks_in_use", "Fiber stacks handed out and not given back.", c.stacks_in_use);
  one("fiberpool_stacks_cached", "Fiber stacks kept for reuse.", c.stacks_cached);
  one("fiberpool_runtimes", "Runtimes alive.", c.runtimes);
}

}  // namespace

std::string prometheus_text() {
  // Snapshots first, each under its own object's locks only; the text is built after.
  std::vector<std::string> pool_names, runtime_names;
  std::vector<pool_stats> pool_snaps;
  std::vector<runtime_stats> runtime_snaps;
  detail::pool_core::for_each_live([&](detail::pool_core& p) {
    pool_names.push_back(p.opts.name);
    pool_snaps.push_back(p.facade() ? p.facade()->stats() : p.stats());
  });
  detail::runtime_core::for_each_live([&](detail::runtime_core& r) {
    runtime_names.push_back(r.options().name);
    runtime_snaps.push_back(r.stats());
  });
  std::vector<pool_row> pools;
  auto pn = unique_names(pool_names);
  for (std::size_t i = 0; i < pn.size(); ++i)
    pools.push_back({"pool=\"" + escaped(pn[i]) + "\"", std::move(pool_snaps[i])});
  std::vector<runtime_row> rts;
  auto rn = unique_names(runtime_names);
  for (std::size_t i = 0; i < rn.size(); ++i)
    rts.push_back({"runtime=\"" + escaped(rn[i]) + "\"", std::move(runtime_snaps[i])});

  exposition x;
  write_pools(x, pools);
  write_runtimes(x, rts);
  write_process(x);
  return x.take();
}

}  // namespace fiberpool
