// The end of the run: the results table and the accounting checks that decide the exit code.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include <fiberpool/types.hpp>

#include "ledger.hpp"

namespace demo {

// One pool's books after stop(): its own info() and the demo's ledger, to check one against the other.
struct pool_results {
  std::string role;                     // "server" or "load", the table's column
  fiberpool::pool_info info;
  std::size_t applied = 0;              // jobs apply() accepted
  std::size_t expected_terminated = 0;  // jobs the demo killed on purpose
  const job_ledger* ledger = nullptr;
};

// One row of the timeline: the server pool's limit and the connections served and waiting at a
// moment, and what the main thread did since the row before.
struct timeline_row {
  double at_s = 0;
  std::size_t limit = 0, serving = 0, waiting = 0;
  double rate = 0;                      // round trips per second since the row before
  std::string note;                     // "grow(1000)", "killed job 17", ...
};

struct run_results {
  pool_results server, load;
  std::size_t connections = 0;          // load clients, the stuck one not included
  std::uint64_t sessions = 0;           // client connections the server answered
  std::uint64_t messages = 0;           // echo round trips
  double p50_ms = 0, p99_ms = 0;        // round-trip latency, once served
  double wait_p50_ms = 0, wait_p99_ms = 0;  // connect() to a session's first reply
  std::vector<timeline_row> timeline;
  double sending_s = 0;                 // how long the clients sent
  double elapsed_s = 0;                 // the whole run, connecting and closing included
  std::size_t largest_limit = 0;        // the server pool's highest limit
  std::optional<fiberpool::job_state> stuck_end;  // how the killed server job ended
};

// print_results: the timeline, then connections, sessions, messages, throughput, latency, the
// wait for a slot, peak running, and both pools' jobs by end state.
void print_results(const run_results& r);

// accounting_errors: one sentence per broken promise (every applied job ends exactly once, the
// pool and the demo's callbacks agree, nothing fails, only the stuck connection is killed and it
// ends terminated, the server ran one job per session and never more than its largest limit);
// empty when all is well.
std::vector<std::string> accounting_errors(const run_results& r);

}  // namespace demo
