// offload: helper threads, and offload_and_wait() on the fiber side.
#include "hub/offload.hpp"

#include <system_error>
#include <thread>
#include <utility>

#include <pthread.h>

#include <fiberpool/detail/parker.hpp>
#include <fiberpool/detail/spin_mutex.hpp>
#include <fiberpool/detail/wait.hpp>

namespace fiberpool::hub {
namespace {

[[gnu::tls_model("initial-exec")]] thread_local offload_pool* tl_pool = nullptr;

}  // namespace

offload_pool* offload_pool::current() noexcept { return tl_pool; }
void offload_pool::bind_this_thread(offload_pool* p) noexcept { tl_pool = p; }

offload_pool::offload_pool(std::size_t max_threads, std::string name)
    : st_(std::make_shared<shared_state>()), max_threads_(max_threads ? max_threads : 1), name_(std::move(name)) {}

offload_pool::~offload_pool() {
  std::lock_guard lk(st_->mu);
  st_->closed = true;
  st_->cv.notify_all();
}

void offload_pool::submit(std::function<void()> job) {
  std::unique_lock lk(st_->mu);
  st_->queue.push_back(std::move(job));
  if (st_->idle > 0 || st_->threads >= max_threads_) {
    st_->cv.notify_one();
    return;
  }
  ++st_->threads;
  lk.unlock();
  try {
    std::thread(helper_main, st_, name_).detach();
  } catch (const std::system_error&) {
    lk.lock();
    --st_->threads;
    if (st_->threads == 0) {
      st_->queue.pop_back();
      throw;
    }
    // Other helpers will get to it.
  }
}

void offload_pool::helper_main(std::shared_ptr<shared_state> st, std::string name) noexcept {
  ::pthread_setname_np(::pthread_self(), (name + "-off").substr(0, 15).c_str());
  std::unique_lock lk(st->mu);
  for (;;) {
    ++st->idle;
    st->cv.wait(lk, [&] { return st->closed || !st->queue.empty(); });
    --st->idle;
    if (st->queue.empty()) break;  // closed and drained
    auto job = std::move(st->queue.front());
    st->queue.pop_front();
    lk.unlock();
    job();
    job = nullptr;  // release the call before taking the lock again
    lk.lock();
  }
  --st->threads;
}

}  // namespace fiberpool::hub

namespace fiberpool::detail {
namespace {

// completion: where the helper says "done" and the fiber waits for it. Shared: whichever of the
// two finishes last frees it.
struct completion {
  spin_mutex mu;
  parker* waiter = nullptr;  // guarded by mu
  bool done = false;         // guarded by mu

  void finish() noexcept {
    std::lock_guard lk(mu);
    done = true;
    if (waiter) std::exchange(waiter, nullptr)->unpark();
  }
};

}  // namespace

void offload_and_wait(const std::shared_ptr<offload_call>& call) {
  hub::offload_pool* pool = hub::offload_pool::current();
  if (!pool) {
    call->run();  // a plain thread may block: run it here
    return;
  }
  raise_cancellation();
  auto state = std::make_shared<completion>();
  pool->submit([call, state] {
    call->run();
    state->finish();
  });
  parker p;
  for (;;) {
    {
      std::lock_guard lk(state->mu);
      if (state->done) return;
      state->waiter = &p;
    }
    auto status = park_cancellable(p, std::nullopt, {"offload"});
    {
      std::lock_guard lk(state->mu);
      state->waiter = nullptr;
      if (state->done) return;
    }
    // Killed while the helper works: unwind now; the helper finishes the call on its own.
    if (status == wait_status::cancelled) raise_cancellation();
  }
}

}  // namespace fiberpool::detail
