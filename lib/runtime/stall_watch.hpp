// stall_watch: a runtime's watchdog thread, which notices a scheduler thread held by one fiber.
#pragma once

#include <condition_variable>
#include <cstddef>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include <fiberpool/detail/spin_mutex.hpp>
#include <fiberpool/types.hpp>

#include "runtime/stall_listener.hpp"

namespace fiberpool::scheduler { class worker_set; }

namespace fiberpool::detail {

// One per runtime, started by the first add(). It samples the progress marks every scheduler
// thread publishes in pick() (worker_slot::resumed and ::running, a plain store each) every
// `period` while some thread is not idle, and rests, with no timer at all, while every thread
// sleeps (scheduler/watch_gate.hpp): an idle runtime is never woken by it. Being a thread of its
// own, it sees a stall on a runtime of one thread, and on a hosted runtime's host thread, which the
// stalled thread itself never could.
class stall_watch {
 public:
  stall_watch(scheduler::worker_set& workers, std::string name);
  ~stall_watch();  // stops and joins the thread
  stall_watch(const stall_watch&) = delete;
  stall_watch& operator=(const stall_watch&) = delete;

  // add: `l` hears of stalls from now on. `warning`, the shortest stall it reports, sets how often
  // the watchdog samples (period_for). Throws std::system_error if the thread cannot start.
  void add(stall_listener& l, clock::duration warning);
  // remove: `l` hears nothing more once this returns (a call to it in progress is waited for).
  void remove(stall_listener& l) noexcept;
  // activity: each active or retiring thread, with a stall the samples saw that still holds.
  std::vector<thread_activity> activity() const;

  // period_for: a quarter of the warning, within [10 ms, 250 ms]: a stall is reported between
  // `warning` and `warning` plus two periods after it began.
  static clock::duration period_for(clock::duration warning) noexcept;

 private:
  // What the last sample saw on a slot.
  struct seen {
    bool valid = false;
    std::size_t resumed = 0;
    const void* context = nullptr;
    clock::time_point since;
  };
  void run() noexcept;
  // sample: updates seen_, fills `stalled`; true if some thread was not idle.
  bool sample(clock::time_point now, std::vector<stalled_thread>& stalled);

  scheduler::worker_set& workers_;
  std::string name_;
  mutable spin_mutex seen_mu_;  // guards seen_ (jobs() reads it, from any fiber)
  std::unique_ptr<seen[]> seen_;
  // Guards the fields below; held while listeners are called, so remove() waits for a call.
  std::mutex mu_;
  std::condition_variable cv_;
  std::vector<std::pair<stall_listener*, clock::duration>> listeners_;
  clock::duration period_{};
  bool stopping_ = false;
  std::thread thread_;
};

}  // namespace fiberpool::detail
