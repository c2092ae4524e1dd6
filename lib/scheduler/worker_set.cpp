// worker_set: stealing and the sleep/wake handshake between a runtime's threads.
#include "scheduler/worker_set.hpp"

#include <chrono>

namespace fiberpool::scheduler {

worker_set::worker_set(std::size_t capacity) : slots_(new worker_slot[capacity]), capacity_(capacity) {
  for (std::size_t i = 0; i < capacity; ++i) slots_[i].index = i;
}

worker_slot* worker_set::claim() noexcept {
  for (std::size_t i = 0; i < capacity_; ++i) {
    auto expected = slot_state::unused;
    if (slots_[i].state.compare_exchange_strong(expected, slot_state::active) ||
        (expected == slot_state::exited &&
         slots_[i].state.compare_exchange_strong(expected, slot_state::active))) {
      std::size_t used = used_.load();
      while (used < i + 1 && !used_.compare_exchange_weak(used, i + 1)) {}
      slots_[i].hosted.store(0);
      slots_[i].running.store(nullptr);
      slots_[i].idle_now.store(false);  // a new thread starts busy (watch_gate)
      return &slots_[i];
    }
  }
  return nullptr;
}

std::size_t worker_set::active() const noexcept {
  std::size_t n = 0, used = used_.load(std::memory_order_acquire);
  for (std::size_t i = 0; i < used; ++i)
    if (slots_[i].state.load(std::memory_order_relaxed) == slot_state::active) ++n;
  return n;
}

bool worker_set::any_awake() const noexcept {
  for (std::size_t i = 0; i < capacity_; ++i) {
    auto st = slots_[i].state.load(std::memory_order_seq_cst);
    if ((st == slot_state::active || st == slot_state::retiring) && !slots_[i].idle_now.load(std::memory_order_seq_cst))
      return true;
  }
  return false;
}

context* worker_set::steal(worker_slot& thief) noexcept {
  std::size_t used = used_.load(std::memory_order_acquire);
  if (used < 2) return nullptr;
  // Start after the thief so threads do not all raid the same victim first.
  for (std::size_t k = 1; k < used; ++k) {
    worker_slot& victim = slots_[(thief.index + k) % used];
    if (victim.state.load(std::memory_order_relaxed) == slot_state::unused) continue;
    if (context* ctx = victim.ready.steal()) {
      worker_slot::count(thief.steals);
      return ctx;
    }
  }
  return nullptr;
}

worker_slot* worker_set::forward_target(worker_slot& from) noexcept {
  std::size_t used = used_.load(std::memory_order_acquire);
  std::size_t start = next_target_.fetch_add(1, std::memory_order_relaxed);
  for (std::size_t k = 0; k < used; ++k) {
    worker_slot& s = slots_[(start + k) % used];
    if (&s != &from && s.state.load(std::memory_order_acquire) == slot_state::active) return &s;
  }
  return nullptr;
}

bool worker_set::stealable_elsewhere(const worker_slot& self) const noexcept {
  std::size_t used = used_.load(std::memory_order_acquire);
  for (std::size_t i = 0; i < used; ++i)
    if (&slots_[i] != &self && slots_[i].ready.stealable() > 0) return true;
  return false;
}

bool worker_set::spin(worker_slot& self) noexcept {
  // Sleeping and being woken costs two system calls and tens of microseconds; work often comes
  // back sooner than that. Spin about 20 us at most, and only one thread at a time, so an idle
  // runtime still sleeps at once and a busy one wastes at most a sliver of one core.
  constexpr auto spin_for = std::chrono::microseconds(20);
  if (used_.load(std::memory_order_acquire) < 2) return false;
  // Only a thread that may steal spins: a retiring one holding the spinner's place would make
  // producers skip waking a sleeper that could take their work.
  if (self.state.load(std::memory_order_relaxed) != slot_state::active) return false;
  if (spinners_.fetch_add(1, std::memory_order_seq_cst) > 0) {
    spinners_.fetch_sub(1, std::memory_order_seq_cst);
    return false;
  }
  bool found = false;
  auto until = std::chrono::steady_clock::now() + spin_for;
  for (unsigned i = 0;; ++i) {
    if (self.idle.take_wake() || stealable_elsewhere(self)) {
      found = true;
      break;
    }
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#endif
    if ((i & 15) == 15 && std::chrono::steady_clock::now() >= until) break;
  }
  spinners_.fetch_sub(1, std::memory_order_seq_cst);
  return found;
}

bool worker_set::go_idle(worker_slot& self) noexcept {
  if (used_.load(std::memory_order_acquire) < 2) return true;
  if (self.state.load(std::memory_order_relaxed) != slot_state::active) {
    // May not steal. It may have spun while active, though (restart() retired it since), and
    // producers wake nobody while a thread spins: pass on what they left for it. Its spin ended
    // (seq_cst) before this look, so a producer that saw it spinning pushed before we look here.
    if (stealable_elsewhere(self)) wake_sleeper(self);
    return true;
  }
  self.sleeping.store(true, std::memory_order_seq_cst);
  sleepers_.fetch_add(1, std::memory_order_seq_cst);
  // Re-check after announcing the sleep: a producer that pushed before seeing us asleep must not
  // leave its fiber stranded in its own busy queue.
  if (stealable_elsewhere(self)) {
    leave_idle(self);
    return false;
  }
  return true;
}

void worker_set::leave_idle(worker_slot& self) noexcept {
  if (self.sleeping.exchange(false, std::memory_order_seq_cst)) sleepers_.fetch_sub(1, std::memory_order_seq_cst);
}

void worker_set::wake_sleeper(worker_slot& self) noexcept {
  // The pushed fiber must be visible before we look for sleepers, and a sleeper announces itself
  // before it looks for stealable fibers (go_idle): one of the two sees the other.
  std::atomic_thread_fence(std::memory_order_seq_cst);
  if (spinners_.load(std::memory_order_seq_cst) > 0) return;  // the spinner will steal it
  if (sleepers_.load(std::memory_order_seq_cst) == 0) return;
  std::size_t used = used_.load(std::memory_order_acquire);
  for (std::size_t k = 1; k < used; ++k) {
    worker_slot& s = slots_[(self.index + k) % used];
    if (s.state.load(std::memory_order_relaxed) != slot_state::active) continue;
    bool expected = true;
    if (s.sleeping.compare_exchange_strong(expected, false, std::memory_order_seq_cst)) {
      sleepers_.fetch_sub(1, std::memory_order_seq_cst);
      if (!s.waking.exchange(true, std::memory_order_relaxed)) waking_.fetch_add(1, std::memory_order_relaxed);
      s.idle.wake();
      return;
    }
  }
}

}  // namespace fiberpool::scheduler
