// signal<...>, connection, scoped_connection and the signal_bus every task_pool carries.
#pragma once

#include <atomic>
#include <cstddef>
#include <exception>
#include <functional>
#include <memory>
#include <mutex>
#include <stdexcept>
#include <utility>
#include <vector>

#include <fiberpool/types.hpp>

namespace spdlog { class logger; }

namespace fiberpool {

class task_pool;

namespace detail {

struct slot_base {
  std::atomic<bool> connected{true};
  virtual ~slot_base() = default;
};

struct signal_state_base {
  virtual ~signal_state_base() = default;
  virtual void remove(const slot_base* s) noexcept = 0;
};

// Logs an exception a receiver threw (null logger: fiberpool::logger()). Never throws.
void report_receiver_error(const std::shared_ptr<spdlog::logger>& log, std::exception_ptr e) noexcept;

}  // namespace detail

// A receiver's registration. Copyable; disconnect() from any copy ends it for all.
class connection {
 public:
  connection() = default;
  connection(std::weak_ptr<detail::signal_state_base> sig, std::weak_ptr<detail::slot_base> slot)
      : signal_(std::move(sig)), slot_(std::move(slot)) {}

  // disconnect: the receiver is not called by emits that start after this returns.
  void disconnect() {
    auto slot = slot_.lock();
    if (!slot || !slot->connected.exchange(false)) return;
    if (auto sig = signal_.lock()) sig->remove(slot.get());
  }
  bool connected() const {
    auto slot = slot_.lock();
    return slot && slot->connected.load();
  }

 private:
  std::weak_ptr<detail::signal_state_base> signal_;
  std::weak_ptr<detail::slot_base> slot_;
};

// A connection that disconnects when it is destroyed. Move-only.
class scoped_connection {
 public:
  scoped_connection() = default;
  scoped_connection(connection c) : c_(std::move(c)) {}  // NOLINT: implicit by design
  scoped_connection(scoped_connection&& o) noexcept : c_(std::exchange(o.c_, {})) {}
  scoped_connection& operator=(scoped_connection&& o) noexcept {
    if (this != &o) { c_.disconnect(); c_ = std::exchange(o.c_, {}); }
    return *this;
  }
  scoped_connection(const scoped_connection&) = delete;
  scoped_connection& operator=(const scoped_connection&) = delete;
  ~scoped_connection() { c_.disconnect(); }

  void disconnect() { c_.disconnect(); }
  bool connected() const { return c_.connected(); }
  connection release() { return std::exchange(c_, {}); }

 private:
  connection c_;
};

// A list of receivers called in connection order. connect/disconnect are thread-safe and may be
// called from inside a receiver; emit() costs one atomic load when nobody is connected.
template <class... Args>
class signal {
  struct slot : detail::slot_base {
    explicit slot(std::function<void(Args...)> f) : fn(std::move(f)) {}
    std::function<void(Args...)> fn;
  };
  using slot_list = std::vector<std::shared_ptr<slot>>;

  // Copy-on-write: emit() takes a snapshot under the lock and calls receivers outside it.
  struct state : detail::signal_state_base {
    mutable std::mutex mu;
    std::shared_ptr<const slot_list> slots = std::make_shared<const slot_list>();
    std::atomic<std::size_t> count{0};
    std::shared_ptr<spdlog::logger> log;

    void remove(const detail::slot_base* s) noexcept override {
      std::lock_guard lk(mu);
      auto next = std::make_shared<slot_list>();
      for (const auto& p : *slots)
        if (p.get() != s) next->push_back(p);
      slots = std::move(next);
      count.store(slots->size());
    }
  };

 public:
  signal() : state_(std::make_shared<state>()) {}
  signal(const signal&) = delete;
  signal& operator=(const signal&) = delete;

  // connect: adds a receiver; it is called by every emit that starts after connect returns.
  // Throws std::invalid_argument for an empty receiver.
  connection connect(std::function<void(Args...)> receiver) {
    if (!receiver) throw std::invalid_argument("fiberpool: signal::connect() needs a non-empty receiver");
    auto s = std::make_shared<slot>(std::move(receiver));
    {
      std::lock_guard lk(state_->mu);
      auto next = std::make_shared<slot_list>(*state_->slots);
      next->push_back(s);
      state_->slots = std::move(next);
      state_->count.store(state_->slots->size());
    }
    return connection(std::weak_ptr<detail::signal_state_base>(state_), std::weak_ptr<detail::slot_base>(s));
  }

  // emit: calls every connected receiver in connection order. A receiver that throws is logged
  // and does not stop the others.
  void emit(Args... args) const {
    if (state_->count.load(std::memory_order_acquire) == 0) return;
    std::shared_ptr<const slot_list> snapshot;
    {
      std::lock_guard lk(state_->mu);
      snapshot = state_->slots;
    }
    for (const auto& s : *snapshot) {
      if (!s->connected.load(std::memory_order_acquire)) continue;
      try {
        s->fn(args...);
      } catch (...) {
        detail::report_receiver_error(state_->log, std::current_exception());
      }
    }
  }

  std::size_t receivers() const { return state_->count.load(); }

  // set_logger: where receiver errors are logged (null: fiberpool::logger()). Set it before
  // connecting receivers; a pool sets its own logger on its signal_bus.
  void set_logger(std::shared_ptr<spdlog::logger> l) {
    std::lock_guard lk(state_->mu);
    state_->log = std::move(l);
  }

 private:
  std::shared_ptr<state> state_;
};

// The lifecycle and job signals of one pool (Celery's worker signals).
//  - job_started fires on the job's fiber as it starts; a job cancelled while queued never starts.
//  - job_ended fires exactly once for every accepted job, cancelled ones included, right after
//    its on_ended and before the pool's counters count it as ended.
//  - job_failed fires for every job that ends failed (its target threw), with the exception,
//    just before its job_ended.
//  - pool_resized fires after the new limit has admitted queued jobs, so running() already shows
//    them (their fibers may not have started yet).
struct signal_bus {
  signal<task_pool&> pool_started;
  signal<task_pool&> pool_preshutdown;
  signal<task_pool&> pool_postshutdown;
  signal<task_pool&, job_id> pool_apply;
  signal<task_pool&, job_id> job_started;
  signal<task_pool&, job_id, job_state> job_ended;
  signal<task_pool&, job_id, std::exception_ptr> job_failed;
  signal<task_pool&, std::size_t /*old*/, std::size_t /*new*/> pool_resized;
  // process_pool only: a worker process said hello; one exited (its wait status, as waitpid's).
  signal<int /*pid*/> worker_started;
  signal<int /*pid*/, int /*status*/> worker_exited;

  void set_logger(const std::shared_ptr<spdlog::logger>& l) {
    pool_started.set_logger(l);
    pool_preshutdown.set_logger(l);
    pool_postshutdown.set_logger(l);
    pool_apply.set_logger(l);
    job_started.set_logger(l);
    job_ended.set_logger(l);
    job_failed.set_logger(l);
    pool_resized.set_logger(l);
  }
};

}  // namespace fiberpool
