// job<R>: a handle to one applied job (eventlet GreenThread, Celery AsyncResult).
#pragma once

#include <csignal>
#include <optional>
#include <utility>

#include <fiberpool/detail/job_record.hpp>
#include <fiberpool/errors.hpp>
#include <fiberpool/types.hpp>

namespace fiberpool {

// Copyable and cheap; dropping every handle does not affect the job. A default-constructed handle
// refers to no job: id() is 0 and get()/wait() throw invalid_job_id.
template <class R>
class job {
 public:
  job() = default;
  explicit job(detail::ref_ptr<detail::result_record<R>> rec) noexcept : rec_(std::move(rec)) {}

  job_id id() const noexcept { return rec_ ? rec_->id() : 0; }
  job_state state() const noexcept { return rec_ ? rec_->state() : job_state::cancelled; }
  // done: the job is in a terminal state.
  bool done() const noexcept { return is_terminal(state()); }
  bool valid() const noexcept { return static_cast<bool>(rec_); }

  // get: waits for the end; returns the result or rethrows the job's exception, job_terminated
  // (time_limit_exceeded for a hard limit), or job_cancelled. Cancellation point.
  // A copyable result is copied on every call. A move-only result (std::unique_ptr...) is moved
  // out by the first get() on any copy of this handle; a second get() throws fiberpool::error
  // ("the result of job N was already taken by get()").
  R get() {
    wait();
    rec_->rethrow_failure();
    return rec_->result();
  }
  // wait: waits for a terminal state; never throws the job's error. Cancellation point.
  void wait() { checked().wait_until(std::nullopt); }
  // wait_for: true if the job ended within d. Cancellation point.
  bool wait_for(clock::duration d) { return checked().wait_until(clock::now() + d); }
  // terminate: the owning pool's terminate_job(id(), signal).
  bool terminate(int signal = SIGTERM) { return rec_ && rec_->terminate(signal); }

 private:
  detail::result_record<R>& checked() const {
    if (!rec_) throw invalid_job_id("fiberpool: this job handle is empty; use one returned by apply()");
    return *rec_;
  }
  detail::ref_ptr<detail::result_record<R>> rec_;
};

}  // namespace fiberpool
