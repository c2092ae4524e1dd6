// watch_gate: the rest/wake handshake between scheduler threads and the stall watchdog.
#include "scheduler/watch_gate.hpp"

#include "scheduler/worker_set.hpp"

namespace fiberpool::scheduler {

void watch_gate::thread_idle(worker_slot& self) noexcept {
  // Relaxed: seen late, the watchdog only ticks once more than it had to.
  self.idle_now.store(true, std::memory_order_relaxed);
}

void watch_gate::thread_busy(worker_slot& self) noexcept {
  self.idle_now.store(false, std::memory_order_seq_cst);
  if (state_.load(std::memory_order_seq_cst) != resting) return;
  int expected = resting;
  if (state_.compare_exchange_strong(expected, awake, std::memory_order_seq_cst)) state_.notify_one();
}

bool watch_gate::rest(const worker_set& workers) noexcept {
  int expected = awake;
  if (!state_.compare_exchange_strong(expected, resting, std::memory_order_seq_cst)) return false;
  if (workers.any_awake()) {
    expected = resting;
    if (!state_.compare_exchange_strong(expected, awake, std::memory_order_seq_cst)) return expected != stopped;
    return true;
  }
  int now;
  while ((now = state_.load(std::memory_order_seq_cst)) == resting) state_.wait(resting, std::memory_order_seq_cst);
  return now != stopped;
}

void watch_gate::stop() noexcept {
  state_.store(stopped, std::memory_order_seq_cst);
  state_.notify_all();
}

}  // namespace fiberpool::scheduler
