// testing::leak_check: waits for the live-object counts to come back to where they started.
#include <fiberpool/testing.hpp>

#include <algorithm>
#include <exception>
#include <string>
#include <thread>
#include <utility>

#include <spdlog/spdlog.h>

#include <fiberpool/log.hpp>

#include "log/describe.hpp"

namespace fiberpool::testing {

namespace {

// What is alive at `end` beyond what was at `start`. stacks_cached stays 0: a cache is no leak.
diagnostics::counters excess(const diagnostics::counters& start, const diagnostics::counters& end) {
  auto over = [](std::size_t s, std::size_t e) { return e > s ? e - s : 0; };
  diagnostics::counters c;
  c.fibers = over(start.fibers, end.fibers);
  c.job_records = over(start.job_records, end.job_records);
  c.stacks_in_use = over(start.stacks_in_use, end.stacks_in_use);
  c.runtimes = over(start.runtimes, end.runtimes);
  return c;
}

bool any(const diagnostics::counters& c) {
  return c.fibers != 0 || c.job_records != 0 || c.stacks_in_use != 0 || c.runtimes != 0;
}

std::string counted(std::size_t n, const char* one, const char* many) {
  return std::to_string(n) + " " + (n == 1 ? one : many);
}

std::string counts(const diagnostics::counters& c) {
  return "fibers " + std::to_string(c.fibers) + ", job records " + std::to_string(c.job_records) +
         ", stacks in use " + std::to_string(c.stacks_in_use) + ", runtimes " + std::to_string(c.runtimes);
}

std::string message(const leak_report& r) {
  const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(r.waited).count();
  return "fiberpool::testing::leak_check: " + counted(r.leaked.fibers, "fiber", "fibers") + ", " +
         counted(r.leaked.job_records, "job record", "job records") + ", " +
         counted(r.leaked.stacks_in_use, "stack", "stacks") + " in use and " +
         counted(r.leaked.runtimes, "runtime", "runtimes") + " more than at its start still alive after " +
         std::to_string(ms) + " ms (at its start: " + counts(r.at_start) + "; at its end: " + counts(r.at_end) +
         "). Stop and destroy every task_pool and runtime the test made and drop its job handles and result "
         "streams before the check ends (construct the leak_check first, so that it is destroyed last).";
}

}  // namespace

leak_check::leak_check(clock::duration grace) : leak_check(grace, nullptr) {}

leak_check::leak_check(clock::duration grace, leak_handler on_leak)
    : at_start_(diagnostics::snapshot()),
      grace_(std::max(grace, clock::duration::zero())),
      on_leak_(std::move(on_leak)),
      uncaught_at_start_(std::uncaught_exceptions()) {}

leak_check::~leak_check() noexcept(false) {
  // Short polls: most checks are clean at once, and a thread ending a pool's last fiber takes
  // microseconds, so a fixed long sleep would only slow every test down.
  const auto deadline = clock::now() + grace_;
  auto pause = std::chrono::milliseconds(1);
  diagnostics::counters now = diagnostics::snapshot();
  while (any(excess(at_start_, now)) && clock::now() < deadline) {
    std::this_thread::sleep_for(std::min<clock::duration>(pause, deadline - clock::now()));
    pause = std::min(pause * 2, std::chrono::milliseconds(10));
    now = diagnostics::snapshot();
  }
  const diagnostics::counters left = excess(at_start_, now);
  if (!any(left)) return;

  leak_report report;
  report.leaked = left;
  report.at_start = at_start_;
  report.at_end = now;
  report.waited = grace_;
  report.message = message(report);

  // Throwing while the test's own exception unwinds through us would be std::terminate.
  const bool unwinding = std::uncaught_exceptions() > uncaught_at_start_;
  if (!unwinding) {
    if (on_leak_) {
      on_leak_(report);
      return;
    }
    throw error(report.message);
  }
  auto log = fiberpool::logger();
  if (!on_leak_) {
    SPDLOG_LOGGER_ERROR(log, "{} (found while an exception was unwinding the test)", report.message);
    return;
  }
  try {
    on_leak_(report);
  } catch (...) {
    SPDLOG_LOGGER_ERROR(log, "{} (found while an exception was unwinding the test; on_leak threw: {})",
                        report.message, detail::describe(std::current_exception()));
  }
}

}  // namespace fiberpool::testing
