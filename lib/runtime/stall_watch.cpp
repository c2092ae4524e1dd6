// stall_watch: the watchdog thread: sample the threads' progress marks, tell the pools, rest.
#include "runtime/stall_watch.hpp"

#include <algorithm>

#include <pthread.h>

#include "scheduler/worker_set.hpp"

namespace fiberpool::detail {

namespace {

bool watched(const scheduler::worker_slot& s) noexcept {
  auto st = s.state.load(std::memory_order_acquire);
  return st == scheduler::slot_state::active || st == scheduler::slot_state::retiring;
}

}  // namespace

stall_watch::stall_watch(scheduler::worker_set& workers, std::string name)
    : workers_(workers), name_(std::move(name)), seen_(new seen[workers.capacity()]) {}

stall_watch::~stall_watch() {
  {
    std::lock_guard lk(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  workers_.gate.stop();
  if (thread_.joinable()) thread_.join();
}

clock::duration stall_watch::period_for(clock::duration warning) noexcept {
  return std::clamp<clock::duration>(warning / 4, std::chrono::milliseconds(10), std::chrono::milliseconds(250));
}

void stall_watch::add(stall_listener& l, clock::duration warning) {
  std::lock_guard lk(mu_);
  if (!thread_.joinable()) thread_ = std::thread([this] { run(); });
  listeners_.emplace_back(&l, warning);
  auto p = period_for(warning);
  period_ = period_ == clock::duration{} ? p : std::min(period_, p);
  cv_.notify_all();
}

void stall_watch::remove(stall_listener& l) noexcept {
  std::lock_guard lk(mu_);
  std::erase_if(listeners_, [&](const auto& e) { return e.first == &l; });
  period_ = {};
  for (auto& [_, warning] : listeners_) {
    auto p = period_for(warning);
    period_ = period_ == clock::duration{} ? p : std::min(period_, p);
  }
}

std::vector<thread_activity> stall_watch::activity() const {
  std::vector<thread_activity> out;
  std::lock_guard lk(seen_mu_);
  for (std::size_t i = 0; i < workers_.capacity(); ++i) {
    auto& slot = workers_.at(i);
    if (!watched(slot)) continue;
    thread_activity a;
    a.thread = slot.thread.load(std::memory_order_relaxed);
    std::size_t resumed = slot.resumed.load(std::memory_order_acquire);
    a.context = slot.running.load(std::memory_order_relaxed);
    // Still the fiber and the count a sample saw: no switch since that sample.
    const seen& s = seen_[i];
    if (a.context && s.valid && s.resumed == resumed && s.context == a.context) a.stalled_since = s.since;
    out.push_back(a);
  }
  return out;
}

bool stall_watch::sample(clock::time_point now, std::vector<stalled_thread>& stalled) {
  stalled.clear();
  bool awake = false;
  std::lock_guard lk(seen_mu_);
  for (std::size_t i = 0; i < workers_.capacity(); ++i) {
    auto& slot = workers_.at(i);
    seen& s = seen_[i];
    if (!watched(slot)) {
      s.valid = false;
      continue;
    }
    if (!slot.idle_now.load(std::memory_order_relaxed)) awake = true;
    // The count first (acquire): `running` is stored before it, so a pair read this way is never
    // a newer count with an older fiber.
    std::size_t resumed = slot.resumed.load(std::memory_order_acquire);
    const void* ctx = slot.running.load(std::memory_order_relaxed);
    if (ctx && s.valid && s.resumed == resumed && s.context == ctx)
      stalled.push_back({slot.thread.load(std::memory_order_relaxed), ctx, s.since});
    else
      s = {true, resumed, ctx, now};
  }
  return awake;
}

void stall_watch::run() noexcept {
  ::pthread_setname_np(::pthread_self(), (name_ + "-watch").substr(0, 15).c_str());
  std::vector<stalled_thread> stalled;
  bool told = false;  // the listeners last heard of stalled threads
  std::unique_lock lk(mu_);
  for (;;) {
    // Nobody to tell: sample nothing.
    cv_.wait(lk, [&] { return stopping_ || !listeners_.empty(); });
    if (stopping_) return;
    auto now = clock::now();
    bool awake = sample(now, stalled);
    if (!stalled.empty() || told) {
      for (auto& [l, _] : listeners_) l->threads_stalled(stalled, now);
      told = !stalled.empty();
    }
    if (!awake) {
      // Every thread sleeps: so does the watchdog, until one wakes (or the runtime goes).
      lk.unlock();
      bool go_on = workers_.gate.rest(workers_);
      lk.lock();
      if (!go_on || stopping_) return;
      continue;
    }
    cv_.wait_for(lk, period_, [&] { return stopping_; });
    if (stopping_) return;
  }
}

}  // namespace fiberpool::detail
