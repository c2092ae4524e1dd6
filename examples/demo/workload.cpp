// Simulated I/O jobs: random 1-20 ms waits, a few planned failures, sized to the target duration.
#include "workload.hpp"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <random>
#include <stdexcept>

#include <fiberpool/this_job.hpp>

namespace demo {
namespace {

constexpr int min_wait_ms = 1;
constexpr int max_wait_ms = 20;
constexpr double mean_wait_s = (min_wait_ms + max_wait_ms) / 2.0 / 1000.0;

// The pool's average limit over the run, weighting each limit by how long the plan keeps it.
double mean_limit() {
  double sum = 0, from = 0;
  std::size_t limit = initial_limit;
  for (const resize_step& step : resize_plan) {
    sum += static_cast<double>(limit) * (step.at - from);
    from = step.at;
    limit = limit_after(step, limit);
  }
  return sum + static_cast<double>(limit) * (1.0 - from);
}

// Round trips per job, on average, for the run to last about `seconds`: the pool completes about
// mean_limit() jobs per job-duration. One job alone never takes more than a quarter of the run,
// so that a small --jobs still ends in time.
double mean_round_trips(std::size_t jobs, double seconds) {
  double capacity = mean_limit() * seconds / mean_wait_s;  // round trips the run has room for
  double per_job = capacity / static_cast<double>(std::max<std::size_t>(jobs, 1));
  return std::clamp(per_job, 1.0, seconds / 4 / mean_wait_s);
}

}  // namespace

std::size_t limit_after(const resize_step& step, std::size_t before) {
  switch (step.how) {
    case resize_kind::grow: return before + step.amount;
    case resize_kind::shrink: return before - std::min(step.amount, before);
    case resize_kind::resize: return step.amount;
  }
  return before;
}

std::size_t largest_limit() {
  std::size_t limit = initial_limit, largest = initial_limit;
  for (const resize_step& step : resize_plan) largest = std::max(largest, limit = limit_after(step, limit));
  return largest;
}

std::vector<job_plan> plan_jobs(std::size_t count, double seconds, double fail_rate) {
  std::mt19937 rng(2024);  // fixed seed: every run with the same options does the same work
  // Uniform round-trip counts around the mean, so jobs that start together do not end together.
  int mean = static_cast<int>(std::lround(mean_round_trips(count, seconds)));
  std::uniform_int_distribution<int> round_trips(std::max(1, mean / 2), std::max(1, mean * 3 / 2));
  std::bernoulli_distribution fails(fail_rate);
  std::vector<job_plan> plans(count);
  for (job_plan& p : plans) {
    p.seed = static_cast<std::uint32_t>(rng());
    p.round_trips = round_trips(rng);
    if (fails(rng)) p.fail_after = std::uniform_int_distribution<int>(0, p.round_trips - 1)(rng);
  }
  return plans;
}

void run_job_plan(const job_plan& plan) {
  // A small generator per job: jobs run on several threads, and a shared one would need a lock.
  std::minstd_rand rng(plan.seed);
  std::uniform_int_distribution<int> wait_ms(min_wait_ms, max_wait_ms);
  for (int trip = 0; trip < plan.round_trips; ++trip) {
    if (trip == plan.fail_after) throw std::runtime_error("simulated I/O error: connection reset by peer");
    fiberpool::this_job::sleep_for(std::chrono::milliseconds(wait_ms(rng)));
  }
}

}  // namespace demo
