// simple_task_pool: a pool of identical workers started and stopped by count (asyncio-taskpool's
// SimpleTaskPool).
#pragma once

#include <algorithm>
#include <csignal>
#include <cstddef>
#include <string>
#include <unordered_set>
#include <utility>
#include <vector>

#include <fiberpool/errors.hpp>
#include <fiberpool/options.hpp>
#include <fiberpool/sync.hpp>
#include <fiberpool/task_pool.hpp>
#include <fiberpool/types.hpp>

namespace fiberpool {

// Every job runs its own copy of fn (so fn may keep state of its own, a mutable lambda included).
// The jobs started by start() are stopped newest first: stop(n) is the inverse of start(n).
// Callable from any thread and any fiber; the members take turns (waiting like fiberpool's
// semaphore: a cancellation point).
template <class F>
class simple_task_pool {
 public:
  // simple_task_pool: makes the pool (with `opts`) and starts it; no worker runs yet.
  // Throws std::invalid_argument for a null fn.
  explicit simple_task_pool(F fn, pool_options opts = {}) : fn_(std::move(fn)), pool_(std::move(opts)) {
    if (detail::is_null_callable(fn_))
      throw std::invalid_argument("fiberpool: simple_task_pool was given a null callable; pass a function, a "
                                  "lambda or a non-empty std::function");
    pool_.start();
  }

  // start: applies n jobs of fn as one new task group, "start-group-<i>" for the i-th call
  // (from 0), and returns its name. Throws what apply() throws (the jobs applied before a refusal
  // stay started), and group_exists if that name was taken by an apply() of the caller's.
  std::string start(std::size_t n) {
    turn t(turn_);
    std::string group = "start-group-" + std::to_string(start_calls_++);
    if (pool_.has_group(group))
      throw group_exists("fiberpool: simple_task_pool::start(): the pool already has a task group '" + group +
                         "'; leave names of the form start-group-<i> to start()");
    forget_ended();
    job_options o;
    o.group = group;
    for (std::size_t i = 0; i < n; ++i) started_.push_back(pool_.apply(o, fn_).id());
    return group;
  }

  // stop: terminates the n newest jobs of start() still live (LIFO; a queued one ends cancelled,
  // a running one is killed at its next cancellation point) and returns their ids, newest first.
  // Fewer than n if fewer are live. Does not wait for them to end.
  std::vector<job_id> stop(std::size_t n) {
    turn t(turn_);
    std::vector<job_id> stopped;
    while (stopped.size() < n && !started_.empty()) {
      job_id id = started_.back();
      started_.pop_back();
      if (pool_.terminate_job(id, SIGTERM)) stopped.push_back(id);
    }
    return stopped;
  }

  // stop_all: stop() of every live job of start().
  std::vector<job_id> stop_all() { return stop(static_cast<std::size_t>(-1)); }

  // num_running: jobs of start() not yet ended or stopped.
  std::size_t num_running() {
    turn t(turn_);
    forget_ended();
    return started_.size();
  }

  // pool: the underlying pool (to wait, resize, look at jobs(), stop it...).
  task_pool& pool() noexcept { return pool_; }

 private:
  // turn: holds turn_ for one member call. A semaphore rather than a mutex: start() may wait in
  // apply() (overflow::block), and a fiber waiting for its turn must not block its thread.
  struct turn {
    explicit turn(semaphore& s) : sem(s) { sem.acquire(); }
    ~turn() { sem.release(); }
    turn(const turn&) = delete;
    turn& operator=(const turn&) = delete;
    semaphore& sem;
  };

  // forget_ended: drops the ids of jobs that ended on their own, so started_ stays as small as
  // the set of live workers.
  void forget_ended() {
    std::unordered_set<job_id> live;
    for (const job_info& j : pool_.jobs()) live.insert(j.id);
    std::erase_if(started_, [&](job_id id) { return !live.contains(id); });
  }

  F fn_;
  task_pool pool_;
  semaphore turn_{1};
  std::vector<job_id> started_;  // oldest first
  std::size_t start_calls_ = 0;
};

}  // namespace fiberpool
