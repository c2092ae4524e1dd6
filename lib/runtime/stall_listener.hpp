// stall_listener: what a pool hears from its runtime's stall watchdog, and what jobs() asks it.
#pragma once

#include <cstddef>
#include <optional>
#include <span>

#include <fiberpool/types.hpp>

namespace fiberpool::detail {

// A scheduler thread that every sample since `since` saw running the same job fiber, with no
// switch in between: a fiber in a CPU loop or a blocking call holds it.
struct stalled_thread {
  std::size_t thread = 0;         // the runtime's index for it (what on_thread_start saw)
  const void* context = nullptr;  // the fiber's context: to compare, never to dereference (it may
                                  // be gone by the time anyone looks)
  clock::time_point since;        // the first sample that saw it so; the stall began no later
};

// What one scheduler thread runs now (jobs()): its job fiber (null: none), and since when it has
// run that fiber without a switch, when a sample saw it and it has not switched since.
struct thread_activity {
  std::size_t thread = 0;
  const void* context = nullptr;
  std::optional<clock::time_point> stalled_since;
};

// What a pool registers to hear of stalls (lib/pool/stall_report.hpp).
class stall_listener {
 public:
  // threads_stalled: on the watchdog's thread, after each sample that finds stalled threads, and
  // after the first that finds none once some were. Must return soon (lock briefly, log) and must
  // not call add() or remove().
  virtual void threads_stalled(std::span<const stalled_thread> stalled, clock::time_point now) noexcept = 0;

 protected:
  ~stall_listener() = default;
};

}  // namespace fiberpool::detail
