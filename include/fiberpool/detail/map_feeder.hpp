// map_feeder: the fiber that pulls a map's input and applies one job per item, as its pool sees it.
#pragma once

#include <atomic>
#include <csignal>
#include <memory>
#include <string>

#include <fiberpool/detail/job_record.hpp>
#include <fiberpool/detail/task.hpp>
#include <fiberpool/detail/wait.hpp>
#include <fiberpool/errors.hpp>
#include <fiberpool/options.hpp>

namespace fiberpool::detail {

// The typed loop (map_runner) derives from this; the pool layer (lib/pool/maps.cpp) only knows
// this face. A feeder is no job: it holds no slot of the pool's limit and has no id. It runs on a
// fiber of its own and is cancellable like a job, so cancel_group() can stop it wherever it waits
// (for room in its window, for room in a full queue, inside the input range's own fiberpool waits).
class map_feeder : public task, public cancellable {
 public:
  map_feeder() = default;
  virtual ~map_feeder() = default;
  map_feeder(const map_feeder&) = delete;
  map_feeder& operator=(const map_feeder&) = delete;

  // feed: pulls items and applies their jobs until the input ends or the feeder is stopped.
  virtual void feed() noexcept = 0;
  // finish: tells the stream that nothing more will be applied; the feeder's last act.
  virtual void finish() noexcept = 0;
  // unbound: from now on the map does not wait for its consumer, only for its jobs
  // (gather_and_close() and stop() must let every map run to its end).
  virtual void unbound() noexcept = 0;

  // apply_item: admission of one item's job; adopts one reference to rec, like apply(). Throws
  // what apply() throws, except that a map admitted before lock() or close() goes on; throws
  // job_terminated once the feeder is stopped.
  void apply_item(job_record& rec, job_options&& opts);

  // task: the runtime runs the feeder's fiber through these.
  task* run() noexcept override;
  void discard() noexcept override;

  // cancellable: a stopped feeder gets job_terminated at its next cancellation point.
  bool cancel_requested() const noexcept override { return stop_requested.load(std::memory_order_acquire); }
  void raise_cancellation() override {
    if (cancel_requested()) throw job_terminated(SIGTERM);
  }

  // --- pool layer state, guarded by the owner's lock unless atomic ---
  pool_core* owner = nullptr;
  group_state* grp = nullptr;      // the map's group; null once cancel_group() forgot it
  fiber_site* site = nullptr;      // while feeding
  std::string group_name;          // set before the fiber starts, read-only after
  std::shared_ptr<end_listener> listener;  // the stream's state: told of each item job's end
  std::atomic<bool> stop_requested{false};
};

}  // namespace fiberpool::detail
