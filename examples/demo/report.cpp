// The results table and the accounting checks.
#include "report.hpp"

#include <cstdio>

namespace demo {
namespace {

using fiberpool::job_state;

std::size_t pool_count(const fiberpool::pool_info& info, job_state s) {
  switch (s) {
    case job_state::succeeded: return info.succeeded;
    case job_state::failed: return info.failed;
    case job_state::terminated: return info.terminated;
    case job_state::cancelled: return info.cancelled;
    default: return 0;
  }
}

std::size_t ended(const fiberpool::pool_info& info) {
  return info.succeeded + info.failed + info.terminated + info.cancelled;
}

constexpr job_state end_states[] = {job_state::succeeded, job_state::failed, job_state::terminated,
                                    job_state::cancelled};

std::string name_of(job_state s) { return std::string(fiberpool::to_string(s)); }

// grouped: 1234567 as "1,234,567".
std::string grouped(std::uint64_t n) {
  std::string digits = std::to_string(n), out;
  for (std::size_t i = 0; i < digits.size(); ++i) {
    if (i && (digits.size() - i) % 3 == 0) out += ',';
    out += digits[i];
  }
  return out;
}

void row(const char* what, const std::string& value, const std::string& note) {
  std::printf("  %-20s %12s   %s\n", what, value.c_str(), note.c_str());
}

void add_error(std::vector<std::string>& errors, const std::string& what, std::size_t got, std::size_t want) {
  errors.push_back(what + ": " + std::to_string(got) + ", expected " + std::to_string(want));
}

void check_pool(std::vector<std::string>& errors, const pool_results& p) {
  const auto& info = p.info;
  const job_ledger& ledger = *p.ledger;
  std::string in = " (" + p.role + " pool)";
  if (ended(info) != p.applied) add_error(errors, "jobs ended according to info()" + in, ended(info), p.applied);
  if (ledger.ended() != p.applied) add_error(errors, "on_ended callbacks" + in, ledger.ended(), p.applied);
  if (std::size_t n = ledger.not_ended_once(p.applied); n != 0)
    add_error(errors, "jobs not ended exactly once" + in, n, 0);
  for (job_state s : end_states)
    if (ledger.ended_in(s) != pool_count(info, s))
      add_error(errors, "jobs on_ended saw " + name_of(s) + in, ledger.ended_in(s), pool_count(info, s));
  if (info.failed != 0) add_error(errors, "failed jobs" + in, info.failed, 0);
  if (info.terminated != p.expected_terminated)
    add_error(errors, "terminated jobs" + in, info.terminated, p.expected_terminated);
  if (info.cancelled != 0) add_error(errors, "cancelled jobs" + in, info.cancelled, 0);
  if (info.running != 0 || info.waiting != 0)
    add_error(errors, "jobs left after stop()" + in, info.running + info.waiting, 0);
  if (info.state != fiberpool::pool_state::stopped)
    errors.push_back("the " + p.role + " pool is " + std::string(fiberpool::to_string(info.state)) + " after stop()");
}

}  // namespace

void print_results(const run_results& r) {
  std::printf("\ntimeline: the server pool's limit, the connections it serves (its running jobs), and the\n"
              "connections waiting in the listen backlog: for a free slot, or, with slots free, for the\n"
              "acceptor to take them (it shares the pool's threads with the connections)\n");
  std::printf("  %7s %8s %8s %8s %9s   %s\n", "time", "limit", "serving", "waiting", "msg/s", "what happened");
  for (const timeline_row& t : r.timeline)
    std::printf("  %6.2fs %8zu %8zu %8zu %9.0f   %s\n", t.at_s, t.limit, t.serving, t.waiting, t.rate, t.note.c_str());

  double rate = r.sending_s > 0 ? static_cast<double>(r.messages) / r.sending_s : 0;
  std::printf("\nresults: echo over loopback, %zu + %zu scheduler thread(s), %.2f s in all\n", r.server.info.threads,
              r.load.info.threads, r.elapsed_s);
  row("connections", grouped(r.connections), "clients, +1 stuck connection, killed by its job id");
  row("sessions", grouped(r.sessions), "client connections served, each one server job");
  row("messages", grouped(r.messages), "64-byte request/response round trips");
  row("throughput", grouped(static_cast<std::uint64_t>(rate + 0.5)), "msg/s over the sending time");
  char ms[32];
  std::snprintf(ms, sizeof ms, "%.3f", r.p50_ms);
  row("latency p50", ms, "ms per round trip, once served");
  std::snprintf(ms, sizeof ms, "%.3f", r.p99_ms);
  row("latency p99", ms, "ms per round trip, once served");
  std::snprintf(ms, sizeof ms, "%.1f", r.wait_p50_ms);
  row("wait for a slot p50", ms, "ms from connect() to a session's first reply");
  std::snprintf(ms, sizeof ms, "%.1f", r.wait_p99_ms);
  row("wait for a slot p99", ms, "ms");
  row("peak running", grouped(r.server.ledger->peak_running()),
      "server jobs at once (the limit peaked at " + grouped(r.largest_limit) + ")");
  std::printf("  %-20s %12s %12s\n", "jobs by end state", r.server.role.c_str(), r.load.role.c_str());
  for (job_state s : end_states)
    std::printf("    %-18s %12s %12s\n", name_of(s).c_str(), grouped(pool_count(r.server.info, s)).c_str(),
                grouped(pool_count(r.load.info, s)).c_str());
  std::printf("    %-18s %12s %12s\n", "total", grouped(r.server.applied).c_str(), grouped(r.load.applied).c_str());
  std::fflush(stdout);
}

std::vector<std::string> accounting_errors(const run_results& r) {
  std::vector<std::string> errors;
  check_pool(errors, r.server);
  check_pool(errors, r.load);
  if (!r.stuck_end) errors.push_back("the stuck connection's server job was never killed");
  else if (*r.stuck_end != job_state::terminated)
    errors.push_back("the stuck connection's server job ended " + name_of(*r.stuck_end) + ", not terminated");
  if (std::size_t peak = r.server.ledger->peak_running(); peak > r.largest_limit)
    add_error(errors, "peak running server jobs (above the largest limit)", peak, r.largest_limit);
  // One server job per session, and one for the stuck connection: serve() applied every
  // connection it accepted, and every client session was answered by one of them.
  if (r.server.applied != r.sessions + 1) add_error(errors, "server jobs", r.server.applied, r.sessions + 1);
  if (r.messages == 0) errors.push_back("no echo round trip completed");
  return errors;
}

}  // namespace demo
