// wait_list and wait_on: every fiberpool wait (sync types, job ends, admission, sleeps) ends here.
#include <fiberpool/detail/wait.hpp>

#include <chrono>
#include <cstdio>

#include "base/tick_clock.hpp"

namespace fiberpool::detail {
namespace {

bool cancel_pending(fiber_site* site) noexcept { return site && site->current && site->current->cancel_requested(); }

// park_as: parks `p` where a canceller of the calling job can wake it, and where jobs() and
// dump_jobs() can see what it waits for (`why`, since `since`). True if unparked.
bool park_as(fiber_site* site, parker& p, std::optional<clock::time_point> deadline, const wait_reason& why,
             std::uint64_t since) noexcept {
  if (site) {
    // The canceller stores its request before taking site->mu, so checking under the lock cannot
    // miss a request that did not see us parked.
    std::lock_guard lk(site->mu);
    if (cancel_pending(site)) return true;
    site->parked = &p;
    site->waiting = &why;
    site->waiting_since_tick = since;
    site->waiting_until = deadline;
  }
  bool woken = p.park_until(deadline);
  if (site) {
    std::lock_guard lk(site->mu);
    site->parked = nullptr;
    site->waiting = nullptr;
  }
  return woken;
}

// wait_start: when a wait of a job began (a wait woken stale and parked again keeps it); outside
// jobs nobody reads it, and the counter is not read.
std::uint64_t wait_start(const fiber_site* site) noexcept { return site && site->current ? base::tick_clock::now() : 0; }

bool passed(std::optional<clock::time_point> deadline) noexcept { return deadline && clock::now() >= *deadline; }

}  // namespace

void wait_list::push_back(waiter& w) noexcept {
  w.prev = tail_;
  w.next = nullptr;
  if (tail_) tail_->next = &w;
  else head_ = &w;
  tail_ = &w;
  w.linked = true;
}

void wait_list::remove(waiter& w) noexcept {
  if (!w.linked) return;
  if (w.prev) w.prev->next = w.next;
  else head_ = w.next;
  if (w.next) w.next->prev = w.prev;
  else tail_ = w.prev;
  w.prev = w.next = nullptr;
  w.linked = false;
}

bool wait_list::wake_front() noexcept {
  waiter* w = head_;
  remove(*w);
  w->notified = true;
  w->park.unpark();
  return true;
}

std::size_t wait_list::wake_all() noexcept {
  std::size_t n = 0;
  while (notify_one()) ++n;
  return n;
}

wait_status wait_on(wait_list& list, std::unique_lock<spin_mutex>& lk, std::optional<clock::time_point> deadline,
                    const wait_reason& why, void* slot) noexcept {
  fiber_site* site = this_fiber_site();
  const std::uint64_t since = wait_start(site);
  waiter w;
  w.slot = slot;
  for (;;) {
    if (cancel_pending(site)) return wait_status::cancelled;
    list.push_back(w);
    lk.unlock();
    park_as(site, w.park, deadline, why, since);
    lk.lock();
    // A notification wins over a cancel or timeout that raced with it, so a hand-off (a value,
    // a permit) is never lost.
    if (w.notified) return wait_status::notified;
    list.remove(w);
    if (cancel_pending(site)) return wait_status::cancelled;
    if (passed(deadline)) return wait_status::timed_out;
    // Otherwise a stale wake (a soft limit already raised, a kill already delivered): wait again.
  }
}

wait_status park_cancellable(parker& p, std::optional<clock::time_point> deadline, const wait_reason& why) noexcept {
  fiber_site* site = this_fiber_site();
  const std::uint64_t since = wait_start(site);
  for (;;) {
    if (cancel_pending(site)) return wait_status::cancelled;
    bool woken = park_as(site, p, deadline, why, since);
    if (cancel_pending(site)) return wait_status::cancelled;
    if (woken) return wait_status::notified;
    if (passed(deadline)) return wait_status::timed_out;
  }
}

void raise_cancellation() {
  fiber_site* site = this_fiber_site();
  if (site && site->current) site->current->raise_cancellation();
}

bool cancel_requested() noexcept { return cancel_pending(this_fiber_site()); }

std::optional<wait_snapshot> waiting_now(fiber_site& site) {
  wait_reason why;
  wait_snapshot w;
  std::uint64_t since_tick;
  {
    std::lock_guard lk(site.mu);
    if (!site.waiting) return std::nullopt;
    why = *site.waiting;  // the reason lives on the parked fiber's stack: copied under the lock
    since_tick = site.waiting_since_tick;
    w.until = site.waiting_until;
  }
  // Counted back from now: the counter's rate is calibrated roughly (tick_clock.hpp), so an
  // hour-long wait may be shown a few seconds off; nobody reads it to the microsecond.
  const std::uint64_t now_tick = base::tick_clock::now();
  w.since = clock::now() - std::chrono::duration_cast<clock::duration>(
                               base::tick_clock::span_of(now_tick > since_tick ? now_tick - since_tick : 0));
  w.what = describe_wait(why);
  return w;
}

std::string describe_wait(const wait_reason& why) {
  std::string s = why.what;
  if (why.numbered) {
    s += ' ';
    s += std::to_string(why.number);
  } else if (why.object) {
    char addr[32];
    std::snprintf(addr, sizeof addr, " @%p", why.object);
    s += addr;
  }
  return s;
}

}  // namespace fiberpool::detail
