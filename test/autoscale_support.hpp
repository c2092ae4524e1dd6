// Shared by the autoscaled_pool suites: a scripted system_status, the work a test gives the pool,
// run() on its own thread, and reading an exception's message.
#pragma once

#include <atomic>
#include <chrono>
#include <exception>
#include <functional>
#include <memory>
#include <string>
#include <thread>

#include "support.hpp"

namespace fiberpool_test {

using fiberpool::autoscaled_options;
using fiberpool::autoscaled_pool;
using fiberpool::concurrency_settings;
using fiberpool::status_report;

// A system_status a test drives: overload flags, call counts, and hooks (which may throw) called
// inside current() and historical() on run()'s thread.
class scripted_status : public fiberpool::system_status {
 public:
  std::atomic<bool> current_overloaded{false};
  std::atomic<bool> historical_overloaded{false};
  std::atomic<int> current_calls{0};
  std::atomic<int> historical_calls{0};
  std::function<void()> on_current;     // set before run()
  std::function<void()> on_historical;  // set before run()

  status_report current() override {
    ++current_calls;
    if (on_current) on_current();
    status_report r;
    r.overloaded = current_overloaded;
    return r;
  }
  status_report historical() override {
    ++historical_calls;
    if (on_historical) on_historical();
    status_report r;
    r.overloaded = historical_overloaded;
    r.cpu = r.overloaded ? 1 : 0;
    return r;
  }
};

// The work of a test: `total` items, one per task. A task waits for `release` (a cancellation
// point), so a test decides when tasks end. is_task_ready() counts items neither done nor being
// done, the way a crawler counts requests neither handled nor in progress.
struct work {
  explicit work(int items) : total(items) {}
  const int total;
  autoscaled_pool* pool = nullptr;  // set once the pool exists
  std::atomic<int> started{0};
  std::atomic<int> done{0};
  std::atomic<int> killed{0};
  std::atomic<int> ready_calls{0};
  std::atomic<int> finished_calls{0};
  std::atomic<bool> last_ready{false};
  std::atomic<bool> finish_allowed{true};
  std::atomic<int> finish_asked_wrongly{0};  // while a task ran or one was ready
  std::atomic<int> ready_asked_while_paused{0};
  fiberpool::event release;
  std::function<void(int)> body;  // replaces waiting for release; gets the task's number

  bool ready() {
    ++ready_calls;
    if (pool->paused()) ++ready_asked_while_paused;
    const bool r = done + static_cast<int>(pool->current_concurrency()) < total;
    last_ready = r;
    return r;
  }
  bool finished() {
    ++finished_calls;
    if (pool->current_concurrency() != 0 || last_ready) ++finish_asked_wrongly;
    return done == total && finish_allowed;
  }
  void task() {
    const int n = started++;
    try {
      if (body)
        body(n);
      else
        release.wait();
    } catch (const fiberpool::job_terminated&) {
      ++killed;
      throw;
    }
    ++done;
  }
};

inline autoscaled_options options_for(work& w, std::shared_ptr<fiberpool::system_status> status, std::size_t desired = 3) {
  autoscaled_options o;
  o.concurrency.min = 1;
  o.concurrency.max = 200;
  o.concurrency.desired = desired;
  o.run_task = [&w] { w.task(); };
  o.is_task_ready = [&w] { return w.ready(); };
  o.is_finished = [&w] { return w.finished(); };
  o.status = std::move(status);
  o.autoscale_interval = std::chrono::hours(1);  // no rescaling unless a test asks for it
  o.maybe_run_interval = std::chrono::milliseconds(1);
  return o;
}

// Runs pool.run() on its own thread while the test drives the pool.
class background_run {
 public:
  explicit background_run(autoscaled_pool& p) : pool_(p), thread_([this] {
    try {
      pool_.run();
    } catch (...) {
      error_ = std::current_exception();
    }
    returned_.set();
  }) {}
  ~background_run() {
    if (thread_.joinable()) {
      pool_.abort();
      thread_.join();
    }
  }
  bool returned() const { return returned_.is_set(); }
  // finish: waits for run() to return (aborting it after patience, which fails the test) and
  // gives what it threw.
  std::exception_ptr finish() {
    const bool in_time = returned_.wait_for(patience);
    CHECK_MESSAGE(in_time, "run() did not return within patience");
    if (!in_time) pool_.abort();
    thread_.join();
    return error_;
  }

 private:
  autoscaled_pool& pool_;
  fiberpool::event returned_;
  std::exception_ptr error_;
  std::thread thread_;  // last: it starts once the rest exists
};

template <class E>
inline std::string message_of(const std::exception_ptr& e) {
  if (!e) return "<no exception>";
  try {
    std::rethrow_exception(e);
  } catch (const E& x) {
    return x.what();
  } catch (...) {
    return "<another exception>";
  }
}

}  // namespace fiberpool_test
