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

constexpr job_state end_states[] = {job_state::succeeded, job_state::failed, job_state::terminated,
                                    job_state::cancelled};

std::string name_of(job_state s) { return std::string(fiberpool::to_string(s)); }

void add_error(std::vector<std::string>& errors, const std::string& what, std::size_t got, std::size_t want) {
  errors.push_back(what + ": " + std::to_string(got) + ", expected " + std::to_string(want));
}

}  // namespace

void print_results(const run_results& r, const job_ledger& ledger) {
  std::printf("\nresults of pool '%s' (%s, %zu thread(s))\n", r.info.name.c_str(),
              std::string(fiberpool::to_string(r.info.state)).c_str(), r.info.threads);
  for (job_state s : end_states)
    std::printf("  %-14s %8zu\n", name_of(s).c_str(), pool_count(r.info, s));
  std::printf("  %-14s %8zu   (the pool's limit peaked at %zu)\n", "peak running", ledger.peak_running(),
              r.largest_limit);
  std::printf("  %-14s %8zu   (%zu simulated I/O jobs + 1 stuck job)\n", "total jobs", r.applied, r.applied - 1);
  std::printf("  %-14s %8.2f s\n", "elapsed", r.elapsed_s);
  std::printf("  %-14s %8.0f jobs/s\n", "throughput", static_cast<double>(r.applied) / r.elapsed_s);
  std::fflush(stdout);
}

std::vector<std::string> accounting_errors(const run_results& r, const job_ledger& ledger) {
  std::vector<std::string> errors;
  const auto& info = r.info;
  std::size_t ended = info.succeeded + info.failed + info.terminated + info.cancelled;
  if (ended != r.applied) add_error(errors, "jobs ended according to info()", ended, r.applied);
  if (ledger.ended() != r.applied) add_error(errors, "on_ended callbacks", ledger.ended(), r.applied);
  if (std::size_t n = ledger.not_ended_once(); n != 0) add_error(errors, "jobs not ended exactly once", n, 0);
  for (job_state s : end_states)
    if (ledger.ended_in(s) != pool_count(info, s))
      add_error(errors, "jobs on_ended saw " + name_of(s), ledger.ended_in(s), pool_count(info, s));
  // The workload is planned up front, so the end states are known exactly.
  if (info.failed != r.planned_failures) add_error(errors, "failed jobs", info.failed, r.planned_failures);
  if (info.terminated != 1) add_error(errors, "terminated jobs", info.terminated, 1);
  if (info.cancelled != 0) add_error(errors, "cancelled jobs", info.cancelled, 0);
  if (r.stuck_end != job_state::terminated)
    errors.push_back("the stuck job ended " + name_of(r.stuck_end) + ", not terminated");
  if (ledger.peak_running() > r.largest_limit)
    add_error(errors, "peak running (above the largest limit)", ledger.peak_running(), r.largest_limit);
  if (info.running != 0 || info.waiting != 0) add_error(errors, "jobs left after stop()", info.running + info.waiting, 0);
  if (info.state != fiberpool::pool_state::stopped)
    errors.push_back("the pool is " + std::string(fiberpool::to_string(info.state)) + " after stop()");
  return errors;
}

}  // namespace demo
