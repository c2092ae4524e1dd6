// io_poller: one runtime's epoll of registered fds, and the fibers waiting for them.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <vector>

#include <fiberpool/detail/parker.hpp>
#include <fiberpool/detail/spin_mutex.hpp>
#include <fiberpool/types.hpp>

#include "scheduler/poll_source.hpp"

namespace fiberpool::hub {

enum class direction : int { read = 0, write = 1 };

// Fds are registered once, edge-triggered, for both directions; an event sets the direction's
// "ready" flag and wakes the fiber waiting for it, if any. A waiter consumes the flag, so an edge
// that came while nobody waited is not lost.
//
// The epoll fd is watched by every thread of the runtime (scheduler::poll_source): whichever
// thread is idle, or the dispatcher of a busy one, harvests events. A registration is therefore
// not tied to a thread, and a fiber that moved threads between waits needs nothing re-registered.
//
// Events carry a token (slot index and generation), not a pointer: an event harvested just as
// its fd was removed finds a newer generation and is dropped, never touching freed memory.
class io_poller final : public scheduler::poll_source, public std::enable_shared_from_this<io_poller> {
 public:
  io_poller();  // throws std::system_error
  ~io_poller();
  io_poller(const io_poller&) = delete;
  io_poller& operator=(const io_poller&) = delete;

  // add: registers fd; returns its token (never 0). Throws std::system_error.
  std::uint64_t add(int fd);
  // remove: unregisters; a waiter still parked on it is woken (its wait returns false).
  void remove(int fd, std::uint64_t token) noexcept;
  // wait: until `dir` is ready on the registration (true), the deadline (false), or a cancel
  // request for the calling job (false; the caller then calls raise_cancellation()). Throws
  // std::logic_error if another fiber already waits in the same direction.
  enum class wait_result { ready, timed_out, cancelled, removed };
  wait_result wait(std::uint64_t token, int fd, direction dir, std::optional<clock::time_point> deadline);

  // poll_source
  int fd() const noexcept override { return epfd_; }
  bool active() const noexcept override { return registered_.load(std::memory_order_relaxed) > 0; }
  void poll() noexcept override;

  // current: the poller of the runtime whose thread calls (set by the runtime), or null.
  static io_poller* current() noexcept;
  static void bind_this_thread(io_poller* p) noexcept;

 private:
  struct slot {
    detail::spin_mutex mu;
    std::uint32_t generation = 1;
    bool live = false;
    bool ready[2] = {false, false};
    detail::parker* waiter[2] = {nullptr, nullptr};
  };
  static constexpr std::size_t chunk_slots = 256;

  slot* find(std::uint64_t token, std::uint32_t& generation) noexcept;

  int epfd_ = -1;
  std::atomic<long> registered_{0};
  std::mutex table_mu_;  // guards chunks_ growth and free_
  std::vector<std::unique_ptr<slot[]>> chunks_;  // never shrinks: a stale token's slot stays valid
  std::atomic<std::size_t> chunk_count_{0};
  std::unique_ptr<std::atomic<slot*>[]> chunk_index_;  // lock-free lookup for poll()
  std::vector<std::uint32_t> free_;
};

}  // namespace fiberpool::hub
