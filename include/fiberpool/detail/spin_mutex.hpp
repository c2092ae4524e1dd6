// spin_mutex: a tiny lock for critical sections that never suspend a fiber.
#pragma once

#include <atomic>
#include <thread>

namespace fiberpool::detail {

// Safe to take from fibers and plain threads alike because no holder ever suspends while holding
// it: a fiber cannot be switched out inside the critical section, so spinning ends quickly.
// Past a short spin the waiter yields its thread, which keeps 2-core machines from livelocking.
class spin_mutex {
 public:
  void lock() noexcept {
    for (unsigned spins = 0;; ++spins) {
      if (!locked_.exchange(true, std::memory_order_acquire)) return;
      while (locked_.load(std::memory_order_relaxed)) {
        if (++spins < 64) {
#if defined(__x86_64__) || defined(__i386__)
          __builtin_ia32_pause();
#endif
        } else {
          std::this_thread::yield();
        }
      }
    }
  }
  bool try_lock() noexcept {
    return !locked_.load(std::memory_order_relaxed) && !locked_.exchange(true, std::memory_order_acquire);
  }
  void unlock() noexcept { locked_.store(false, std::memory_order_release); }

 private:
  std::atomic<bool> locked_{false};
};

}  // namespace fiberpool::detail
