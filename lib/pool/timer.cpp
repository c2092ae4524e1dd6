// timer: the pool's Timer. Entries wait in the runtime's per-thread timer queues; each callback
// runs on a fresh fiber so a slow one never holds up the hub that fired it.
#include <fiberpool/timer.hpp>

#include <mutex>
#include <set>
#include <stdexcept>

#include <spdlog/spdlog.h>

#include <fiberpool/detail/task.hpp>
#include <fiberpool/detail/timer_handle.hpp>
#include <fiberpool/detail/wait.hpp>
#include <fiberpool/errors.hpp>
#include <fiberpool/runtime.hpp>

#include "log/describe.hpp"
#include "runtime/runtime_core.hpp"

namespace fiberpool::detail {

struct timer_entry {
  std::function<void()> fn;
  clock::duration interval{};   // zero for one-shots
  clock::time_point due;
  // Guarded by timer_core::mu_:
  bool pending = true;          // not yet fired (one-shot) / not cancelled (repeating)
  timer_handle handle;
};

class timer_core : public std::enable_shared_from_this<timer_core> {
 public:
  timer_core(runtime_core& rt, std::shared_ptr<spdlog::logger> log) : rt_(rt), log_(std::move(log)) {}

  std::shared_ptr<timer_entry> add(clock::time_point due, clock::duration interval, std::function<void()> fn) {
    if (!fn) throw std::invalid_argument("fiberpool: timer callbacks must be non-empty functions");
    auto e = std::make_shared<timer_entry>();
    e->fn = std::move(fn);
    e->interval = interval;
    e->due = due;
    std::lock_guard lk(mu_);
    entries_.insert(e);
    arm(e);
    return e;
  }

  bool cancel(const std::shared_ptr<timer_entry>& e) {
    std::lock_guard lk(mu_);
    if (!e || !e->pending) return false;
    disarm(e);
    entries_.erase(e);
    return true;
  }

  void clear() {
    std::lock_guard lk(mu_);
    for (auto& e : entries_) disarm(e);
    entries_.clear();
  }

  std::size_t pending() const {
    std::lock_guard lk(mu_);
    return entries_.size();
  }

  void wait_idle() {
    std::unique_lock lk(mu_);
    while (running_ > 0) {
      if (wait_on(idle_waiters_, lk, std::nullopt, {"timer actions", this}) == wait_status::cancelled) {
        lk.unlock();
        raise_cancellation();
        lk.lock();
      }
    }
  }

 private:
  // A callback's fiber; owns a reference to the core so the core outlives every run.
  struct run_task final : task {
    run_task(std::shared_ptr<timer_core> c, std::shared_ptr<timer_entry> e) : core(std::move(c)), entry(std::move(e)) {}
    task* run() noexcept override {
      core->run(entry);
      delete this;
      return nullptr;
    }
    void discard() noexcept override {
      core->finished(entry);
      delete this;
    }
    std::shared_ptr<timer_core> core;
    std::shared_ptr<timer_entry> entry;
  };

  // arm: with mu_ held.
  void arm(const std::shared_ptr<timer_entry>& e) {
    std::weak_ptr<timer_core> weak = weak_from_this();
    e->handle = rt_.call_at(e->due, [weak, e] {
      if (auto self = weak.lock()) self->fire(e);
    });
  }

  void disarm(const std::shared_ptr<timer_entry>& e) {
    e->pending = false;
    rt_.cancel(e->handle);
  }

  // fire: on a hub fiber; must not wait.
  void fire(const std::shared_ptr<timer_entry>& e) {
    {
      std::lock_guard lk(mu_);
      if (!e->pending) return;
      if (e->interval == clock::duration::zero()) {
        e->pending = false;
        entries_.erase(e);
      }
      ++running_;
    }
    rt_.submit(new run_task(shared_from_this(), e));
  }

  void run(const std::shared_ptr<timer_entry>& e) noexcept {
    try {
      e->fn();
    } catch (...) {
      SPDLOG_LOGGER_ERROR(log_, "fiberpool: a timer callback threw: {}", describe(std::current_exception()));
    }
    finished(e);
  }

  void finished(const std::shared_ptr<timer_entry>& e) noexcept {
    std::lock_guard lk(mu_);
    // A repeating callback is armed again only after its run, skipping missed periods.
    if (e->pending && e->interval > clock::duration::zero()) {
      auto now = clock::now();
      do e->due += e->interval;
      while (e->due <= now);
      try {
        arm(e);
      } catch (...) {
        SPDLOG_LOGGER_ERROR(log_, "fiberpool: could not re-arm a repeating timer; it stops");
        e->pending = false;
        entries_.erase(e);
      }
    }
    if (--running_ == 0) idle_waiters_.notify_all();
  }

  runtime_core& rt_;
  std::shared_ptr<spdlog::logger> log_;
  mutable spin_mutex mu_;
  std::set<std::shared_ptr<timer_entry>> entries_;
  std::size_t running_ = 0;
  wait_list idle_waiters_;
};

}  // namespace fiberpool::detail

namespace fiberpool {

timer::timer(runtime& rt, std::shared_ptr<spdlog::logger> log)
    : core_(std::make_shared<detail::timer_core>(rt.core(), std::move(log))) {}

timer::~timer() {
  core_->clear();
  core_->wait_idle();
}

timer_ref timer::call_after(clock::duration d, std::function<void()> fn) {
  return call_at(clock::now() + d, std::move(fn));
}

timer_ref timer::call_at(clock::time_point t, std::function<void()> fn) {
  return timer_ref(core_->add(t, clock::duration::zero(), std::move(fn)));
}

timer_ref timer::call_repeatedly(clock::duration interval, std::function<void()> fn) {
  if (interval <= clock::duration::zero())
    throw std::invalid_argument("fiberpool: call_repeatedly() needs a positive interval; use call_after() "
                                "for a single call");
  return timer_ref(core_->add(clock::now() + interval, interval, std::move(fn)));
}

bool timer::cancel(timer_ref r) { return core_->cancel(r.entry_); }
void timer::clear() { core_->clear(); }
std::size_t timer::pending() const { return core_->pending(); }
void timer::wait_idle() { core_->wait_idle(); }

}  // namespace fiberpool
