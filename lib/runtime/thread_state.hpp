// thread_state: what a runtime keeps per scheduler thread, and how a thread finds its own.
#pragma once

#include <atomic>
#include <cstddef>
#include <mutex>
#include <thread>
#include <utility>

#include <fiberpool/detail/parker.hpp>
#include <fiberpool/detail/spin_mutex.hpp>
#include <fiberpool/detail/task.hpp>

#include "hub/timer_queue.hpp"
#include "runtime/carrier_queue.hpp"
#include "runtime/runtime_core.hpp"
#include "scheduler/worker_set.hpp"

namespace fiberpool::detail {

struct runtime_core::thread_state {
  scheduler::worker_slot* slot = nullptr;
  std::size_t index = 0;                 // 0..threads-1, what on_thread_start sees
  std::thread thread;
  hub::timer_queue timers;
  carrier_queue carriers;                // tasks started here, waiting for a carrier (carriers.cpp)
  spin_mutex inbox_mu;                   // guards the inbox fields below
  task* inbox_head = nullptr;
  task* inbox_tail = nullptr;
  bool inbox_closed = false;
  bool hub_parked = false;
  bool kicked = false;
  parker hub;
  std::atomic<bool> started{false};
  std::atomic<bool> finished{false};
  bool hosted = false;                   // the thread of a hosted runtime: no hub fiber

  // wake_hub: the hub must look at its inbox and timers. A hosted thread's "hub" is its host's
  // next run_ready(), which a wake of the idle waker asks for (poll_fd turns readable).
  void wake_hub(bool parked) noexcept {
    if (hosted) slot->idle.wake();
    else if (parked) hub.unpark();
  }

  // reuse: makes a state whose thread was joined ready for the slot's next thread (under the
  // runtime's threads_mu_). Its inbox was closed empty; a stale pusher sees it open only now.
  void reuse(std::size_t i) noexcept {
    index = i;
    started.store(false);
    finished.store(false);
    std::lock_guard lk(inbox_mu);
    inbox_closed = false;
    hub_parked = false;
    kicked = false;
  }

  void kick() noexcept {
    bool wake;
    {
      std::lock_guard lk(inbox_mu);
      kicked = true;
      wake = std::exchange(hub_parked, false);
    }
    wake_hub(wake);
  }
};

// The calling thread's runtime and thread. Read through a non-inlined function: a fiber may move
// between threads across any call, and a compiler may otherwise reuse a thread-local's address
// computed before the move.
struct current_thread {
  runtime_core* core = nullptr;
  runtime_core::thread_state* state = nullptr;
};
[[gnu::noinline]] current_thread& this_thread() noexcept;

}  // namespace fiberpool::detail
