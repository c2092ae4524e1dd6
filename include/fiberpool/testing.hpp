// Help for unit tests of programs that use fiberpool: leak_check, and the text of a kill.
#pragma once

#include <chrono>
#include <functional>
#include <string>

#include <fiberpool/diagnostics.hpp>
#include <fiberpool/errors.hpp>
#include <fiberpool/types.hpp>

namespace fiberpool::testing {

// leak_report: what a leak_check found still alive at its end.
struct leak_report {
  // Per counter, how many more were alive at the end than at the check's construction (0 where
  // there were as many or fewer). stacks_cached is always 0: stacks kept for reuse are no leak.
  diagnostics::counters leaked;
  diagnostics::counters at_start;  // diagnostics::snapshot() when the check was constructed
  diagnostics::counters at_end;    // diagnostics::snapshot() when it gave up waiting
  clock::duration waited{};        // how long it waited for them to go: its grace
  // One line that says what was left, the two snapshots, and what to do; what the default
  // handler throws or logs.
  std::string message;
};

// What a leak_check calls when something is left; see leak_check's second constructor.
using leak_handler = std::function<void(const leak_report&)>;

// leak_check: put one at the top of a test, before the test makes any pool, runtime or job handle,
// so that it is destroyed after them. Its destructor checks that every fiber, job record, fiber
// stack in use and runtime the library counts (diagnostics::snapshot()) that was made during its
// life is gone again.
//
// What counts as a leak: the counts at destruction compared with the counts at construction, so a
// test in a program that keeps other pools alive works (a pool made before the check and still
// alive after it is not a leak). The counts are process-wide: a pool that another thread makes or
// ends while the check runs moves them too, so check a test while no other test runs. Stacks kept
// in the per-thread caches for reuse are not counted.
//
// When: the destructor polls the counts (every 1 ms, then up to every 10 ms) until they are back
// to their start or `grace` has passed, since some things end on other threads shortly after the
// call that ended them returned. It sleeps the calling thread: destroy a leak_check on a plain
// thread (a test's body), not inside a job. A check that finds nothing left returns at its first
// poll.
class leak_check {
 public:
  // leak_check(grace): reports a leak by throwing fiberpool::error whose what() is the report's
  // message (counts left, both snapshots, what to do). While the stack unwinds through the check
  // (the test threw), throwing would call std::terminate, so it logs the message at error level
  // through fiberpool::logger() instead and the test's own exception goes on.
  explicit leak_check(clock::duration grace = std::chrono::seconds(2));

  // leak_check(grace, on_leak): reports a leak by calling on_leak(report) instead, once, from the
  // destructor; a doctest user may call FAIL_CHECK(report.message) there. What on_leak throws
  // leaves the destructor, except while the stack unwinds through the check: then it is logged
  // with the report. A null on_leak is the default handler above.
  leak_check(clock::duration grace, leak_handler on_leak);

  // ~leak_check: waits up to grace for the counts to come back, then reports what is left.
  // Throws (or logs) as described at the constructors.
  ~leak_check() noexcept(false);

  leak_check(const leak_check&) = delete;
  leak_check& operator=(const leak_check&) = delete;

 private:
  diagnostics::counters at_start_;
  clock::duration grace_;
  leak_handler on_leak_;
  int uncaught_at_start_;  // std::uncaught_exceptions() at construction: more at the end means unwinding
};

// describe: the text of a kill for test reports: "job_terminated(signal 15): fiberpool: job
// terminated", or for a passed hard time limit "job_terminated(signal 9): fiberpool: hard time
// limit exceeded" (the signal, then what()). <fiberpool/doctest.hpp> makes doctest print this for
// a job_terminated that escapes a test case or an assertion; other frameworks can call it from
// their own exception hooks.
inline std::string describe(const job_terminated& kill) {
  return "job_terminated(signal " + std::to_string(kill.signal()) + "): " + kill.what();
}

}  // namespace fiberpool::testing
