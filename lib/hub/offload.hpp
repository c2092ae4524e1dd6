// offload: a runtime's helper threads for blocking calls, and the wait for one call.
#pragma once

#include <condition_variable>
#include <cstddef>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <string>

#include <fiberpool/io.hpp>

namespace fiberpool::hub {

// A bounded set of plain threads, started on demand up to `max_threads`; calls beyond that queue.
// The threads are detached and share the queue's state, so a runtime can go away while a helper
// is still stuck in someone's blocking call: the helper finishes it, finds the pool closed, and
// exits. Nothing waits for it (a killed job's call finishes on its own).
class offload_pool {
 public:
  offload_pool(std::size_t max_threads, std::string name);
  ~offload_pool();  // closes the queue; idle helpers exit, busy ones after their call
  offload_pool(const offload_pool&) = delete;
  offload_pool& operator=(const offload_pool&) = delete;

  // submit: runs `job` on a helper thread. Throws std::system_error if no thread can be started
  // and none is running.
  void submit(std::function<void()> job);

  // current: the pool of the runtime whose thread calls (bound by the runtime), or null.
  static offload_pool* current() noexcept;
  static void bind_this_thread(offload_pool* p) noexcept;

 private:
  struct shared_state {
    std::mutex mu;
    std::condition_variable cv;
    std::deque<std::function<void()>> queue;
    std::size_t threads = 0;
    std::size_t idle = 0;
    bool closed = false;
  };
  static void helper_main(std::shared_ptr<shared_state> st, std::string name) noexcept;

  std::shared_ptr<shared_state> st_;
  std::size_t max_threads_;
  std::string name_;
};

}  // namespace fiberpool::hub
