// this_job: the calling job's id and its cancellation points.
#include <fiberpool/this_job.hpp>

#include <fiberpool/detail/wait.hpp>

#include "pool/pool_core.hpp"
#include "scheduler/algorithm.hpp"

namespace fiberpool::this_job {

job_id id() noexcept {
  auto* job = detail::current_job();
  return job ? job->id() : 0;
}

void yield() {
  // One check, after the switch: a kill that came before it is still pending then.
  scheduler::yield();
  detail::raise_cancellation();
}

void sleep_for(clock::duration d) { sleep_until(clock::now() + d); }

void sleep_until(clock::time_point t) {
  detail::raise_cancellation();
  detail::parker p;
  while (detail::park_cancellable(p, t, {"sleep"}) != detail::wait_status::timed_out) detail::raise_cancellation();
}

void check_cancelled() { detail::raise_cancellation(); }

bool cancel_requested() noexcept { return detail::cancel_requested(); }

}  // namespace fiberpool::this_job
