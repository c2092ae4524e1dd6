// serve: io::serve()'s acceptor, a fiber of the pool's runtime that is no job, accepting only while
// the pool has a free slot; and io::server, its handle.
#include <fiberpool/serve.hpp>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <csignal>
#include <exception>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <utility>

#include <spdlog/spdlog.h>

#include <fiberpool/detail/task.hpp>
#include <fiberpool/detail/wait.hpp>
#include <fiberpool/errors.hpp>
#include <fiberpool/sync.hpp>

#include "log/describe.hpp"
#include "pool/pool_core.hpp"

namespace fiberpool::detail {
namespace {

// After an accept error that is neither the listener's end nor handled inside accept() itself.
constexpr auto accept_backoff = std::chrono::milliseconds(100);

// listener_broken: accept() cannot succeed on this listener again; retrying would spin.
bool listener_broken(int err) noexcept {
  return err == EBADF || err == EINVAL || err == ENOTSOCK || err == EOPNOTSUPP || err == EFAULT;
}

}  // namespace

// The state io::server, the acceptor fiber and the pool's shutdown receiver share: whichever ends
// last frees it. The acceptor is cancellable like a job (as a map's feeder is): stop() sets
// stop_requested_ and wakes it wherever it waits (accept, the slot wait, a blocking apply, the
// back-off), and it unwinds with job_terminated.
class serve_state final : public cancellable {
 public:
  serve_state(io::tcp_listener l, task_pool& pool, connection_launcher launch, job_options per_connection)
      : pool_(pool),
        core_(core_of(pool)),
        log_(core_.log),
        port_(l.port()),
        listener_(std::move(l)),
        launch_(std::move(launch)),
        per_connection_(std::move(per_connection)) {}

  // run: the acceptor fiber's body.
  void run() noexcept;
  // finish: the acceptor's last act (or the runtime's, if it never got a fiber): the listener
  // closes and stop() returns.
  void finish() noexcept;
  // request_stop: never waits; the acceptor ends at its next (or current) wait.
  void request_stop() noexcept;
  // stop: request_stop(), then waits for the acceptor to end, unless called on the acceptor's own
  // fiber (a pool_apply receiver), where waiting would wait for itself.
  void stop();
  // stop_for_pool: the pool's pool_preshutdown receiver: from then on nothing may touch the pool.
  void stop_for_pool() noexcept;

  bool cancel_requested() const noexcept override { return stop_requested_.load(std::memory_order_acquire); }
  void raise_cancellation() override {
    if (cancel_requested()) throw job_terminated(SIGTERM);
  }

  std::size_t accepted() const noexcept { return accepted_.load(std::memory_order_relaxed); }
  bool serving() const noexcept { return !finished_.load(std::memory_order_acquire); }
  std::uint16_t port() const noexcept { return port_; }
  scoped_connection on_shutdown;  // the pool's pool_preshutdown -> stop_for_pool()

 private:
  void accept_loop();
  // accept_one: waits for a free slot, accepts, applies the connection's job. false once the
  // acceptor must end.
  bool accept_one();
  // back_off: a cancellable sleep after an accept error.
  void back_off();
  bool on_acceptor_fiber() const noexcept;

  task_pool& pool_;
  pool_core& core_;
  const std::shared_ptr<spdlog::logger> log_;
  const std::uint16_t port_;
  io::tcp_listener listener_;         // used only by the acceptor, then closed by finish()
  connection_launcher launch_;
  const job_options per_connection_;
  std::atomic<bool> stop_requested_{false};
  std::atomic<bool> finished_{false};
  std::atomic<std::size_t> accepted_{0};
  spin_mutex mu_;
  fiber_site* site_ = nullptr;        // (mu_) the acceptor's, while it runs: request_stop() wakes it
  fiberpool::event done_;             // set by finish()
};

namespace {

// The runtime runs the acceptor through this; it holds the shared state until the fiber ends.
struct acceptor_task final : task {
  explicit acceptor_task(std::shared_ptr<serve_state> s) noexcept : state(std::move(s)) {}
  task* run() noexcept override {
    state->run();
    delete this;
    return nullptr;
  }
  void discard() noexcept override {
    state->finish();
    delete this;
  }
  std::shared_ptr<serve_state> state;
};

}  // namespace

void serve_state::run() noexcept {
  fiber_site* site = nullptr;
  try {
    site = &install_fiber_site();
  } catch (...) {
    SPDLOG_LOGGER_ERROR(log_, "fiberpool: serve() on pool '{}' could not start its acceptor: {}", pool_.name(),
                        describe(std::current_exception()));
    return finish();
  }
  // Cancellable like a job, but no job: this_job::id() is 0 here and apply() never runs a
  // connection's job inline on this fiber.
  site->hosts_jobs = false;
  site->current = this;
  {
    std::lock_guard lk(mu_);
    site_ = site;
  }
  SPDLOG_LOGGER_DEBUG(log_, "fiberpool: pool '{}' serves port {}", pool_.name(), port_);
  try {
    accept_loop();
  } catch (...) {
    // accept_loop() handles every std::exception; this is whatever else a launcher could throw.
    SPDLOG_LOGGER_ERROR(log_, "fiberpool: the acceptor of port {} (pool '{}') ended: {}", port_, pool_.name(),
                        describe(std::current_exception()));
  }
  SPDLOG_LOGGER_DEBUG(log_, "fiberpool: pool '{}' no longer serves port {} ({} connection(s) accepted)",
                      pool_.name(), port_, accepted());
  {
    std::lock_guard lk(mu_);
    site_ = nullptr;
  }
  site->current = nullptr;
  site->hosts_jobs = true;
  finish();
}

void serve_state::accept_loop() {
  for (;;) {
    bool more = false;
    bool failed = false;
    try {
      more = accept_one();
    } catch (const job_terminated&) {
      return;  // request_stop(): ours is the only kill this fiber gets
    } catch (const pool_closed&) {
      return;  // closed between the slot wait and apply(): the connection is dropped with it
    } catch (const pool_full& e) {
      SPDLOG_LOGGER_WARN(log_, "fiberpool: port {}: pool '{}' refused a connection, closing it: {}", port_,
                         pool_.name(), e.what());
      more = true;
    } catch (const pool_locked& e) {
      SPDLOG_LOGGER_WARN(log_, "fiberpool: port {}: pool '{}' refused a connection, closing it: {}", port_,
                         pool_.name(), e.what());
      more = true;
    } catch (const io_error& e) {
      if (listener_broken(e.code().value())) {
        SPDLOG_LOGGER_ERROR(log_, "fiberpool: port {} (pool '{}') stops accepting: {}", port_, pool_.name(),
                            e.what());
        return;
      }
      SPDLOG_LOGGER_WARN(log_, "fiberpool: port {} (pool '{}'): {}; retrying in {} ms", port_, pool_.name(),
                         e.what(), accept_backoff.count());
      more = failed = true;
    } catch (const std::exception& e) {
      // Not expected (bad_alloc making the job): the next connection may fare better.
      SPDLOG_LOGGER_ERROR(log_, "fiberpool: port {} (pool '{}'): a connection was lost: {}; retrying in {} ms", port_,
                          pool_.name(), e.what(), accept_backoff.count());
      more = failed = true;
    }
    if (!more) return;
    if (failed) back_off();  // outside the handler: never suspend inside a catch block
  }
}

bool serve_state::accept_one() {
  // The pool's free() is the admission test: no slot, no accept, and the connection waits in the
  // kernel's backlog. false: the pool was closed or stopped.
  if (!core_.wait_for_free_slot(std::nullopt) || cancel_requested()) return false;
  io::tcp_stream conn = listener_.accept();
  job_options opts = per_connection_;
  if (opts.name.empty()) {
    try {
      opts.name = "conn " + conn.remote_address();
    } catch (const io_error&) {
      opts.name = "conn (peer already gone)";  // ENOTCONN: reset between accept and here
    }
  }
  // Counted before the job exists, so that whoever its handler talks to already sees it counted;
  // taken back if the pool refuses the job.
  accepted_.fetch_add(1, std::memory_order_relaxed);
  try {
    launch_(std::move(conn), std::move(opts));
  } catch (...) {
    accepted_.fetch_sub(1, std::memory_order_relaxed);
    throw;
  }
  return true;
}

void serve_state::back_off() {
  parker p;
  if (park_cancellable(p, clock::now() + accept_backoff, {"accept back-off"}) == wait_status::cancelled) raise_cancellation();
}

void serve_state::finish() noexcept {
  listener_.close();  // on the acceptor's fiber, which was its only user: no wait is left on it
  finished_.store(true, std::memory_order_release);
  // Nothing is left to stop: a long-lived pool does not collect one receiver per server it served.
  on_shutdown.disconnect();
  done_.set();
}

void serve_state::request_stop() noexcept {
  stop_requested_.store(true, std::memory_order_release);
  // The request is stored before taking mu_, and the acceptor checks it after parking under its
  // site's lock (wait.cpp), so this wake cannot fall between its check and its park.
  std::lock_guard lk(mu_);
  if (site_) site_->wake();
}

bool serve_state::on_acceptor_fiber() const noexcept {
  fiber_site* here = this_fiber_site();
  return here && here->current == this;
}

void serve_state::stop() {
  request_stop();
  if (!on_acceptor_fiber()) done_.wait();
}

void serve_state::stop_for_pool() noexcept {
  request_stop();
  if (on_acceptor_fiber()) return;
  // Past this receiver the pool's state may be freed, so a kill of the job calling the pool's
  // stop() must not cut this wait short: the caller's fiber is made uncancellable for it (its own
  // field, written only by itself). The wait is short: the pool is closed and the acceptor woken,
  // and its way out (close, disconnect, set) never waits.
  fiber_site* here = this_fiber_site();
  cancellable* was = here ? std::exchange(here->current, nullptr) : nullptr;
  try {
    done_.wait();
  } catch (...) {
    // Not reachable: with nothing to cancel it, the wait has nothing to throw.
  }
  if (here) here->current = was;
}

std::shared_ptr<serve_state> start_serving(io::tcp_listener l, task_pool& pool, connection_launcher launch,
                                           job_options per_connection) {
  if (!l.is_open())
    throw std::invalid_argument("fiberpool: serve() was given a closed tcp_listener; pass one from "
                                "tcp_listener::bind()");
  auto state = std::make_shared<serve_state>(std::move(l), pool, std::move(launch), std::move(per_connection));
  // Connected before the pool's state is checked: a stop() that begins after the check finds the
  // receiver, one that began before is seen by the check.
  std::weak_ptr<serve_state> weak = state;
  state->on_shutdown = pool.signals().pool_preshutdown.connect([weak](task_pool&) {
    if (auto s = weak.lock()) s->stop_for_pool();
  });
  if (pool_state s = pool.state(); s == pool_state::closed || s == pool_state::stopped)
    throw pool_closed("fiberpool: serve() on pool '" + pool.name() + "', which is " + std::string(to_string(s)) +
                      "; serve into a pool that is running (or not yet started)");
  pool.runtime().submit(new acceptor_task(state));
  return state;
}

}  // namespace fiberpool::detail

namespace fiberpool::io {

server& server::operator=(server&& other) noexcept {
  if (this != &other) {
    if (state_) state_->request_stop();
    state_ = std::move(other.state_);
  }
  return *this;
}

server::~server() {
  if (!state_) return;
  state_->request_stop();
  // Waiting suspends: never while unwinding (a killed job's stack), nor in a job that is being
  // killed (the wait would throw from a destructor). The acceptor holds the shared state, and
  // the pool's shutdown waits for it, so not waiting here is safe; the listener closes shortly.
  if (std::uncaught_exceptions() > 0 || detail::cancel_requested()) return;
  try {
    state_->stop();
  } catch (...) {
    // A kill that arrived during the wait: sticky, the job gets it at its next cancellation point.
  }
}

void server::stop() {
  if (state_) state_->stop();
}

std::size_t server::accepted() const noexcept { return state_ ? state_->accepted() : 0; }
bool server::serving() const noexcept { return state_ && state_->serving(); }
std::uint16_t server::port() const noexcept { return state_ ? state_->port() : 0; }

}  // namespace fiberpool::io
