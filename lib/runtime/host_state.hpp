// host_state: what a hosted runtime keeps about the thread it runs on (hosting.cpp).
#pragma once

#include <chrono>
#include <memory>
#include <thread>

#include "runtime/overflow_guard.hpp"
#include "runtime/runtime_core.hpp"
#include "scheduler/worker_set.hpp"

namespace fiberpool::detail {

// What a hosted runtime keeps about the thread it runs on and the run_ready() in progress.
struct runtime_core::host_state final : scheduler::host_driver {
  std::thread::id thread;
  thread_state* ts = nullptr;
  bool in_run_ready = false;
  clock::time_point fibers_deadline = clock::time_point::max();  // earliest sleeping fiber
  parker back_to_host;
  std::unique_ptr<alt_stack> signal_stack;

  // Called by the scheduler when nothing on the thread is ready: inside run_ready(), that is the
  // moment to return to the host; otherwise (the host thread blocked in a fiberpool wait) the
  // thread idles as any runtime thread does.
  bool idle(std::chrono::steady_clock::time_point deadline) noexcept override {
    if (!in_run_ready) return false;
    fibers_deadline = deadline;
    back_to_host.unpark();
    return true;
  }
};

}  // namespace fiberpool::detail
