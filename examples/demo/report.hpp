// The end of the run: the results table and the accounting checks that decide the exit code.
#pragma once

#include <cstddef>
#include <string>
#include <vector>

#include <fiberpool/types.hpp>

#include "ledger.hpp"

namespace demo {

struct run_results {
  fiberpool::pool_info info;          // the pool's own accounting, after stop()
  std::size_t applied = 0;            // jobs apply() accepted, the stuck one included
  std::size_t planned_failures = 0;   // jobs whose plan throws
  std::size_t largest_limit = 0;      // no more jobs than this can ever run at once
  fiberpool::job_state stuck_end = fiberpool::job_state::queued;
  double elapsed_s = 0;
};

// print_results: the table of how jobs ended, with peak concurrency and throughput.
void print_results(const run_results& r, const job_ledger& ledger);

// accounting_errors: one sentence per broken promise (every applied job ends exactly once, the
// pool and the demo's callbacks agree, the stuck job ended terminated); empty when all is well.
std::vector<std::string> accounting_errors(const run_results& r, const job_ledger& ledger);

}  // namespace demo
