// autoscale_core: the state of one autoscaled_pool behind its public facade.
#pragma once

#include <cstddef>
#include <exception>
#include <memory>
#include <mutex>
#include <string>

#include <fiberpool/autoscaled_pool.hpp>
#include <fiberpool/sync.hpp>
#include <fiberpool/task_pool.hpp>

#include "autoscale/scaling_rule.hpp"
#include "autoscale/start_window.hpp"

namespace spdlog { class logger; }

namespace fiberpool::detail {

// run() is the only place that starts tasks and calls the predicates and the status probe, so they
// never run concurrently with each other. Everything else (the other members, tasks ending) only
// changes state under mu_ and sets wake_, which run() waits on between rounds. No code holding mu_
// waits or calls out.
class autoscale_core {
 public:
  autoscale_core(autoscaled_options opts, pool_options pool);
  ~autoscale_core();

  // run_loop.cpp
  void run();

  // autoscale_core.cpp
  void abort();
  void pause();
  void resume();
  bool paused() const;
  std::size_t current() const;
  std::size_t desired() const;
  concurrency_settings concurrency() const;
  void set_concurrency(const concurrency_settings& s);

 private:
  enum class ending { finished, aborted, failed, interrupted };
  struct run_counts {
    clock::time_point began{};
    std::size_t started = 0, succeeded = 0, failed = 0, terminated = 0;
  };

  // run_loop.cpp
  ending drive();
  bool start_tasks();                // true: is_finished() said yes
  void start_one(clock::time_point now);
  void autoscale();
  void terminate_tasks();
  std::exception_ptr wait_for_tasks();  // a kill of run()'s own job, if one cut the wait short
  void record_failure(std::exception_ptr e) noexcept;
  void task_ended(job_state s, std::exception_ptr e) noexcept;

  // status_log.cpp
  void log_status() const;
  void log_scaled(std::size_t from, std::size_t to, const status_report& historical) const;
  void log_summary(ending how, const std::exception_ptr& failure) const;
  void log_task_killed(const std::exception_ptr& e) const noexcept;

  const autoscaled_options opts_;  // functions, intervals and ratios; the settings live in settings_
  const scaling_ratios ratios_;
  const std::string name_;
  const std::shared_ptr<spdlog::logger> log_;

  std::mutex set_mu_;  // one set_concurrency() at a time
  mutable std::mutex mu_;
  concurrency_settings settings_;
  std::size_t desired_;
  std::size_t current_ = 0;
  bool paused_ = false;
  bool abort_requested_ = false;
  bool running_ = false;
  bool terminating_ = false;  // run() is terminating its tasks
  std::exception_ptr failure_;
  start_window window_;
  run_counts counts_;
  status_report last_current_;
  status_report last_historical_;
  fiberpool::event wake_;

  // After the state its tasks' on_ended touch, so it is destroyed first, waiting for them.
  task_pool pool_;
  // Last: a default status runs timers on pool_'s runtime, so it must go before the pool.
  std::shared_ptr<system_status> status_;
};

}  // namespace fiberpool::detail
