// runtime: the scheduler threads fibers run on. A task_pool owns one or shares one.
#pragma once

#include <cstddef>
#include <exception>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <type_traits>
#include <utility>

#include <fiberpool/detail/task.hpp>
#include <fiberpool/metrics.hpp>
#include <fiberpool/types.hpp>

namespace fiberpool {

struct runtime_options {
  // Names the threads ("<name>-<index>") and the log lines.
  std::string name = "fiberpool";
  // Scheduler threads; 0 = std::thread::hardware_concurrency().
  std::size_t threads = 1;
  // Usable stack bytes of fibers created by post(); at least min_stack_size, at most max_stack_size.
  std::size_t stack_size = 64 * 1024;
  // Called on each scheduler thread as it starts, before it runs any fiber (aiomultiprocess's
  // initializer). An exception it throws is logged and the thread goes on.
  std::function<void(std::size_t index)> on_thread_start;
  // Helper threads for offload(): started on first use, at most this many (a bounded pool, so a
  // burst of blocking calls queues instead of creating threads without end). At least 1.
  std::size_t offload_threads = 4;
  // hosted: no threads of its own. The constructing thread runs the runtime's fibers whenever it
  // calls run_ready(), driven by the host's event loop through poll_fd() and next_deadline()
  // (see task_pool::register_with_event_loop). `threads` is ignored.
  bool hosted = false;
};

namespace detail {
class runtime_core;
void report_post_error(std::exception_ptr e) noexcept;
}

// A set of scheduler threads with per-thread ready queues and work stealing between them. Idle
// threads sleep in epoll_wait until work or the next timer is due: an idle runtime uses no CPU.
class runtime {
 public:
  // runtime: starts the threads. Throws std::invalid_argument for a stack outside [min_stack_size, max_stack_size].
  explicit runtime(runtime_options opts = {});
  // ~runtime: waits for fibers started by post() to finish, then joins the threads. Must not be
  // called from one of its own fibers.
  ~runtime();
  runtime(const runtime&) = delete;
  runtime& operator=(const runtime&) = delete;

  // threads: scheduler threads currently serving (restart() keeps the count).
  std::size_t threads() const;
  const std::string& name() const;

  // post: runs fn on a fiber of this runtime (on the calling thread when that is one of the
  // runtime's threads, else on the next thread in turn). An exception fn throws is logged.
  template <class F>
  void post(F&& fn) {
    using fn_type = std::decay_t<F>;
    struct posted final : detail::task {
      explicit posted(F&& f) : fn(std::forward<F>(f)) {}
      task* run() noexcept override {
        try { fn(); } catch (...) { detail::report_post_error(std::current_exception()); }
        delete this;
        return nullptr;
      }
      void discard() noexcept override { delete this; }
      fn_type fn;
    };
    submit(new posted(std::forward<F>(fn)));
  }

  // restart: starts fresh scheduler threads and retires the old ones: no fiber is lost, an old
  // thread leaves once every fiber it hosted has moved on or ended. Returns once a fiber has run
  // on every new thread. Must not be called from one of this runtime's fibers.
  void restart();

  // started: every scheduler thread is up (and ran on_thread_start).
  bool started() const;

  // Driving a hosted runtime (runtime_options::hosted), from the thread that constructed it:
  // poll_fd: readable whenever run_ready() has work to do (a ready fiber, a ready fd, a due timer,
  // a submission from another thread). Watch it for readability in the host's loop.
  int poll_fd() const;
  // run_ready: runs ready fibers, due timers and ready fds until nothing is ready; never blocks.
  // Returns how many times it resumed fibers. Throws error on a runtime that is not hosted or
  // from another thread.
  std::size_t run_ready();
  // next_deadline: when run_ready() must be called at the latest (the next timer), if any.
  std::optional<clock::time_point> next_deadline() const;
  bool hosted() const noexcept;

  // stats: the scheduler's counters and its timer lag (metrics.hpp). Any thread, any time.
  runtime_stats stats() const;

  // current: the runtime of the calling fiber, or null.
  static runtime* current() noexcept;

  // submit: hands a task to the scheduler (fibers are created only on runtime threads).
  void submit(detail::task* t);
  detail::runtime_core& core() noexcept { return *core_; }

 private:
  std::unique_ptr<detail::runtime_core> core_;
};

}  // namespace fiberpool
