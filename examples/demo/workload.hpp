// The simulated work: what each job does, and how the demo sizes it to the target duration.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <vector>

namespace fiberpool { class task_pool; }

namespace demo {

// One job's script, drawn up front so that the run (and its failure count) is reproducible.
struct job_plan {
  std::uint32_t seed = 0;  // seeds the job's own generator for its I/O wait times
  int round_trips = 1;     // simulated I/O waits of 1-20 ms each
  int fail_after = -1;     // throw after this many round trips; -1: the job succeeds
};

// How the main thread resizes the pool during the run (eventlet grow / shrink / resize).
enum class resize_kind { grow, shrink, resize };
struct resize_step {
  double at;               // when, as a fraction of the target duration
  resize_kind how;
  std::size_t amount;      // grow/shrink by this much, or resize to it
  const char* why;         // shown in the log
};

inline constexpr std::size_t initial_limit = 200;
inline constexpr std::array<resize_step, 3> resize_plan{{
    {0.15, resize_kind::grow, 300, "a burst of traffic: let more requests wait on I/O at once"},
    {0.45, resize_kind::shrink, 400, "the backend is overloaded: back off (running jobs are not killed)"},
    {0.70, resize_kind::resize, initial_limit, "back to the normal size"},
}};

// limit_after: the limit a resize step leaves, given the one before it.
std::size_t limit_after(const resize_step& step, std::size_t before);
// largest_limit: the highest limit the plan ever sets, a bound on how many jobs ever run at once.
std::size_t largest_limit();

// plan_jobs: `count` scripts whose simulated I/O, spread over the limits of resize_plan, takes
// about `seconds`; about fail_rate of them fail. The same arguments give the same plans.
std::vector<job_plan> plan_jobs(std::size_t count, double seconds, double fail_rate);

// run_job_plan: the body of a job. Each round trip is this_job::sleep_for, a cancellation point,
// so even these jobs could be killed mid-way. Throws std::runtime_error when the plan says so.
void run_job_plan(const job_plan& plan);

}  // namespace demo
