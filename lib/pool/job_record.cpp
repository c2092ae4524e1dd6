// job_record: pseudo-pids, waiting for a job's end, what get() throws, and the cancellation checks.
#include <fiberpool/detail/job_record.hpp>

#include <csignal>
#include <string>

#include <fiberpool/errors.hpp>

#include "base/block_cache.hpp"
#include "base/thread_counter.hpp"
#include "pool/pool_core.hpp"

namespace fiberpool::detail {
namespace {

// The process-wide pseudo-pid counter (one of the two pieces of global state fiberpool allows).
std::atomic<job_id> next_id{1};
base::thread_counter records_alive;

cancel_kind kind_of(std::uint32_t c) noexcept { return static_cast<cancel_kind>(c & 0xff); }
int signal_of(std::uint32_t c) noexcept { return static_cast<int>(c >> 8); }

}  // namespace

std::size_t live_job_records() noexcept { return records_alive.read(); }

job_record::job_record() noexcept : id_(next_id.fetch_add(1, std::memory_order_relaxed)) {
  records_alive.increment();
}

job_record::~job_record() { records_alive.decrement(); }

void* job_record::operator new(std::size_t size) { return base::block_cache::allocate(size); }

void job_record::operator delete(void* p, std::size_t size) noexcept { base::block_cache::deallocate(p, size); }

bool job_record::wait_until(std::optional<clock::time_point> deadline) {
  detail::raise_cancellation();
  std::unique_lock lk(mu);
  // While this job has not ended its pool exists (its end notifies us under mu), so the owner can
  // be asked whether it was ever started: a job of a pool never started never ends by itself.
  std::optional<clock::time_point> nag;
  if (owner && !is_terminal(state()) && owner->never_started()) nag = clock::now() + pool_core::never_started_nag;
  while (!is_terminal(state())) {
    const bool nag_first = nag && (!deadline || *nag < *deadline);
    auto st = wait_on(waiters, lk, nag_first ? nag : deadline, {"job", nullptr, id_, true});
    if (st == wait_status::timed_out && nag_first) {
      nag.reset();
      // Still under mu and not ended: the owner is alive for the call.
      if (!is_terminal(state()) && owner->never_started()) owner->warn_never_started("a job's get()/wait()", id_);
      continue;
    }
    if (st == wait_status::timed_out) return is_terminal(state());
    if (st == wait_status::cancelled) {
      lk.unlock();
      detail::raise_cancellation();
      lk.lock();
    }
  }
  return true;
}

void job_record::rethrow_failure() const {
  switch (state()) {
    case job_state::succeeded:
      return;
    case job_state::failed:
    case job_state::terminated:
      std::rethrow_exception(error);
    case job_state::cancelled:
      throw job_cancelled("fiberpool: job " + std::to_string(id_) + " was cancelled before it ran");
    default:
      throw fiberpool::error("fiberpool: job " + std::to_string(id_) + " has not ended; wait() for it first");
  }
}

void throw_result_taken(job_id id) {
  throw fiberpool::error("fiberpool: the result of job " + std::to_string(id) +
                         " was already taken by get(); a move-only result can be taken once: keep the "
                         "value the first get() returned (or return a shared_ptr from the job)");
}

bool job_record::terminate(int signal) {
  if (is_terminal(state()) || !owner) return false;
  return owner->terminate_job(id_, signal);
}

task* job_record::run() noexcept { return owner->run_job(*this); }
void job_record::discard() noexcept { owner->discard_job(*this); }

bool job_record::request(cancel_kind kind, int signal) noexcept {
  std::uint32_t want = static_cast<std::uint32_t>(kind) | (static_cast<std::uint32_t>(signal) << 8);
  std::uint32_t cur = cancel.load(std::memory_order_acquire);
  while ((cur & 0xff) < static_cast<std::uint32_t>(kind)) {
    // seq_cst: a canceller's request and the job's start pair up (pool_core::execute()).
    if (cancel.compare_exchange_weak(cur, want, std::memory_order_seq_cst)) return true;
  }
  return false;
}

void job_record::expire_limits() noexcept {
  if (!extras || (!extras->soft_time_limit && !extras->hard_time_limit)) return;
  auto ran = clock::now() - started_at;
  if (extras->hard_time_limit && ran >= *extras->hard_time_limit) request(cancel_kind::hard_limit, SIGKILL);
  else if (extras->soft_time_limit && ran >= *extras->soft_time_limit) request(cancel_kind::soft_limit, SIGUSR1);
}

std::exception_ptr job_record::kill_exception() const {
  auto c = cancel.load(std::memory_order_acquire);
  if (kind_of(c) == cancel_kind::kill) return std::make_exception_ptr(job_terminated(signal_of(c)));
  if (kind_of(c) == cancel_kind::hard_limit) return std::make_exception_ptr(time_limit_exceeded(signal_of(c)));
  return nullptr;
}

bool job_record::cancel_requested() const noexcept {
  const_cast<job_record*>(this)->expire_limits();
  for (const job_record* r = this; r; r = r->inline_parent) {
    auto k = kind_of(r->cancel.load(std::memory_order_acquire));
    if (k >= cancel_kind::hard_limit) return true;
    if (r == this && k == cancel_kind::soft_limit && !soft_raised) return true;
  }
  return false;
}

void job_record::raise_cancellation() {
  expire_limits();
  // A kill of the job whose fiber an inline child borrows reaches the child's code too.
  for (const job_record* r = this; r; r = r->inline_parent) {
    auto c = r->cancel.load(std::memory_order_seq_cst);  // pairs with execute()'s start
    if (kind_of(c) != cancel_kind::kill && kind_of(c) != cancel_kind::hard_limit) continue;
    // A second delivery means the job's code caught the first and went on: say so, once.
    if (kills_raised < 2 && ++kills_raised == 2 && owner) owner->report_swallowed_kill(*this);
    if (kind_of(c) == cancel_kind::kill) throw job_terminated(signal_of(c));
    throw time_limit_exceeded(signal_of(c));
  }
  if (kind_of(cancel.load(std::memory_order_acquire)) == cancel_kind::soft_limit && !soft_raised) {
    soft_raised = true;
    throw soft_time_limit_exceeded("fiberpool: job " + std::to_string(id_) + " exceeded its soft time limit");
  }
}

}  // namespace fiberpool::detail
