// runtime: the scheduler threads fibers run on. A task_pool owns one or shares one.
#pragma once

#include <cstddef>
#include <exception>
#include <functional>
#include <memory>
#include <string>
#include <type_traits>
#include <utility>

#include <fiberpool/detail/task.hpp>

namespace fiberpool {

struct runtime_options {
  // Names the threads ("<name>-<index>") and the log lines.
  std::string name = "fiberpool";
  // Scheduler threads; 0 = std::thread::hardware_concurrency().
  std::size_t threads = 1;
  // Usable stack bytes of fibers created by post(); at least min_stack_size.
  std::size_t stack_size = 64 * 1024;
  // Called on each scheduler thread as it starts, before it runs any fiber (aiomultiprocess's
  // initializer). An exception it throws is logged and the thread goes on.
  std::function<void(std::size_t index)> on_thread_start;
};

namespace detail {
class runtime_core;
void report_post_error(std::exception_ptr e) noexcept;
}

// A set of scheduler threads with per-thread ready queues and work stealing between them. Idle
// threads sleep in epoll_wait until work or the next timer is due: an idle runtime uses no CPU.
class runtime {
 public:
  // runtime: starts the threads. Throws std::invalid_argument for a stack below min_stack_size.
  explicit runtime(runtime_options opts = {});
  // ~runtime: waits for fibers started by post() to finish, then joins the threads. Must not be
  // called from one of its own fibers.
  ~runtime();
  runtime(const runtime&) = delete;
  runtime& operator=(const runtime&) = delete;

  // threads: scheduler threads currently serving (restart() keeps the count).
  std::size_t threads() const;
  const std::string& name() const;

  // post: runs fn on a new fiber of this runtime (on the calling thread when that is one of the
  // runtime's threads, else on the next thread in turn). An exception fn throws is logged.
  template <class F>
  void post(F&& fn) {
    using fn_type = std::decay_t<F>;
    struct posted final : detail::task {
      explicit posted(F&& f) : fn(std::forward<F>(f)) {}
      void run() noexcept override {
        try { fn(); } catch (...) { detail::report_post_error(std::current_exception()); }
        delete this;
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

  // current: the runtime of the calling fiber, or null.
  static runtime* current() noexcept;

  // submit: hands a task to the scheduler (fibers are created only on runtime threads).
  void submit(detail::task* t);
  detail::runtime_core& core() noexcept { return *core_; }

 private:
  std::unique_ptr<detail::runtime_core> core_;
};

}  // namespace fiberpool
