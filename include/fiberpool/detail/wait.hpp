// The one cancellable wait every fiberpool wait goes through: parker, waiter lists, fiber sites.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <mutex>

#include <fiberpool/detail/parker.hpp>
#include <fiberpool/detail/spin_mutex.hpp>
#include <fiberpool/types.hpp>

namespace fiberpool::detail {

// What a cancellable wait consults: the job running on a fiber. Implemented by the pool's job
// records; an inline child job chains to the job whose fiber it borrows.
class cancellable {
 public:
  virtual bool cancel_requested() const noexcept = 0;
  // raise_cancellation: throws the pending kill (job_terminated), or a soft time limit once.
  virtual void raise_cancellation() = 0;

 protected:
  ~cancellable() = default;
};

// wait_reason: what a suspended job waits for, as job_info::waiting_on and dump_jobs() show it:
// "event @0x...", "read fd 7", "job 12", "sleep". Made on the waiting fiber's stack by the
// cancellation point and pointed at by the fiber's site while it is parked, so recording a wait
// costs a few stores and a counter read, never a string.
struct wait_reason {
  const char* what = "";         // static text, e.g. "event", "read fd", "job"
  const void* object = nullptr;  // shown as an address: the event, semaphore or channel
  std::uint64_t number = 0;      // shown as a number when `numbered`: the fd, the job id
  bool numbered = false;
};

// The per-fiber state a canceller needs to wake a job suspended in a wait. Lives as the fiber's
// Boost.Fiber properties; `current` is null while the fiber runs no job.
struct fiber_site {
  spin_mutex mu;
  parker* parked = nullptr;         // guarded by mu
  // While parked (guarded by mu): what the fiber waits for, since when (a reading of the CPU's
  // counter, lib/base/tick_clock.hpp: 15 ns where the clock costs 36, on every wait), and until when.
  const wait_reason* waiting = nullptr;
  std::uint64_t waiting_since_tick = 0;
  std::optional<clock::time_point> waiting_until;
  cancellable* current = nullptr;   // written only by the fiber itself
  // hosts_jobs: `current` is a pool's job record. False on a map's feeder fiber, whose `current`
  // is the feeder: cancellable like a job, but no job (this_job::id() is 0 there).
  bool hosts_jobs = true;
  // context: the fiber's Boost.Fiber context, set once by install_fiber_site(). The pool matches
  // it against the contexts the stall watchdog reports; nobody dereferences it.
  const void* context = nullptr;

  // wake: makes a parked wait return so it can see a new cancel request. Never suspends.
  void wake() noexcept {
    std::lock_guard lk(mu);
    if (parked) parked->unpark();
  }
};

// this_fiber_site: the calling fiber's site, or null outside job fibers.
fiber_site* this_fiber_site() noexcept;
// install_fiber_site: gives the calling fiber a site (owned by the fiber from then on).
fiber_site& install_fiber_site();

// A waiter in a wait_list. Lives on the waiting fiber's stack.
struct waiter {
  parker park;
  waiter* prev = nullptr;
  waiter* next = nullptr;
  bool linked = false;
  bool notified = false;   // set by the notifier under the list owner's lock
  void* slot = nullptr;    // a hand-off cell for primitives that pass a value or a grant
};

// An intrusive FIFO of waiters; the owner's spin_mutex guards it.
class wait_list {
 public:
  bool empty() const noexcept { return head_ == nullptr; }
  void push_back(waiter& w) noexcept;
  void remove(waiter& w) noexcept;
  waiter* front() const noexcept { return head_; }
  // notify_one / notify_all: unlink, mark notified and unpark. Return how many were woken. Inline
  // for the empty list: a job's end notifies several lists that almost never hold a waiter.
  bool notify_one() noexcept { return head_ && wake_front(); }
  std::size_t notify_all() noexcept { return head_ ? wake_all() : 0; }

 private:
  bool wake_front() noexcept;
  std::size_t wake_all() noexcept;

  waiter* head_ = nullptr;
  waiter* tail_ = nullptr;
};

enum class wait_status { notified, timed_out, cancelled };

// wait_on: links a waiter into `list`, releases `lk`, and waits until notified, the deadline, or a
// cancel request for the calling job. Returns with `lk` held and the waiter unlinked. Never throws:
// on `cancelled` the caller undoes what it must and then calls raise_cancellation().
// `slot` is stored in the waiter for the notifier (a value cell, a grant flag). `why` is what the
// wait shows in job_info::waiting_on while it lasts.
wait_status wait_on(wait_list& list, std::unique_lock<spin_mutex>& lk,
                    std::optional<clock::time_point> deadline, const wait_reason& why,
                    void* slot = nullptr) noexcept;

// park_cancellable: waits on a private parker (sleep) until the deadline or a cancel request.
wait_status park_cancellable(parker& p, std::optional<clock::time_point> deadline, const wait_reason& why) noexcept;

// describe_wait: the text job_info::waiting_on shows for `why`.
std::string describe_wait(const wait_reason& why);

// waiting_now: what the fiber of `site` is parked on now, if it is parked at a cancellation point.
struct wait_snapshot {
  std::string what;
  clock::time_point since;
  std::optional<clock::time_point> until;
};
std::optional<wait_snapshot> waiting_now(fiber_site& site);

// raise_cancellation: throws the calling job's pending kill or soft time limit; no-op outside jobs
// or when nothing is pending. Every cancellation point ends with it.
void raise_cancellation();
bool cancel_requested() noexcept;

}  // namespace fiberpool::detail
