// this_job: what code running inside a job can ask and do. Every call is a cancellation point.
#pragma once

#include <fiberpool/types.hpp>

namespace fiberpool::this_job {

// id: the calling job's id; 0 outside a job.
job_id id() noexcept;
// yield: lets the other ready fibers of its thread run (it goes to the back of the ready queue:
// jobs that yield take turns), then raises a pending kill or soft time limit.
void yield();
// sleep_for / sleep_until: waits; a kill wakes the job at once and raises job_terminated.
void sleep_for(clock::duration d);
void sleep_until(clock::time_point t);
// check_cancelled: raises a pending kill (job_terminated) or soft time limit; otherwise returns.
void check_cancelled();
// cancel_requested: a kill or time limit is pending.
bool cancel_requested() noexcept;

}  // namespace fiberpool::this_job
