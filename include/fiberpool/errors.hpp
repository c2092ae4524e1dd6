// Exceptions fiberpool throws: error and its family, and the job_terminated kill.
#pragma once

#include <csignal>
#include <stdexcept>
#include <string>

namespace fiberpool {

// Base of every library error. Misuse of an argument (a null callable, a zero interval, a stack
// below the minimum) throws std::invalid_argument instead, as the standard library does.
class error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

class pool_closed : public error { public: using error::error; };        // apply() after close()/stop()/terminate()
class pool_full : public error { public: using error::error; };          // queue bound reached with overflow::reject
class pool_locked : public error { public: using error::error; };        // apply() while lock()ed
class invalid_job_id : public error { public: using error::error; };     // unknown (or flushed) id
class already_ended : public error { public: using error::error; };
class already_cancelled : public error { public: using error::error; };
class group_not_found : public error { public: using error::error; };
class group_exists : public error { public: using error::error; };
class deadlock_error : public error { public: using error::error; };     // waitall()/stop() from a job of the same pool
class timed_out : public error { public: using error::error; };          // a deadline passed
class soft_time_limit_exceeded : public error { public: using error::error; };  // catchable, raised inside a job
class job_cancelled : public error { public: using error::error; };      // job::get() of a job cancelled before it ran
class channel_closed : public error { public: using error::error; };     // channel::push() after close()
class end_of_stream : public error { public: using error::error; };      // io::tcp_stream::read_exact(): the
                                                                         // peer closed before the buffer was full

// Raised inside a job that is being killed, and from job::get() of a killed job. Deliberately not
// derived from std::exception, so `catch (const std::exception&)` in job code does not swallow a
// kill (like eventlet's GreenletExit). The kill is sticky: a job that swallows it with catch (...)
// gets it again at its next cancellation point, and still ends terminated.
class job_terminated {
 public:
  explicit job_terminated(int signal = SIGTERM) noexcept : signal_(signal) {}
  virtual ~job_terminated() = default;
  int signal() const noexcept { return signal_; }
  virtual const char* what() const noexcept { return "fiberpool: job terminated"; }

 private:
  int signal_;
};

// The hard time limit killed the job.
class time_limit_exceeded : public job_terminated {
 public:
  explicit time_limit_exceeded(int signal = SIGKILL) noexcept : job_terminated(signal) {}
  const char* what() const noexcept override { return "fiberpool: hard time limit exceeded"; }
};

}  // namespace fiberpool
