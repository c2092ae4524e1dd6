// task: a unit of work the runtime runs on a carrier fiber of one of its threads.
#pragma once

namespace fiberpool::detail {

// Intrusive so the submission queue never allocates. The implementer owns its lifetime: run() is
// called exactly once on a runtime fiber, or discard() if the runtime shuts down before it ran.
// run() returns a task to run next on the same fiber, or null: a job's end hands its freed slot
// to the next queued job, which then starts with no switch and no new fiber.
class task {
 public:
  virtual task* run() noexcept = 0;
  virtual void discard() noexcept = 0;
  task* next_task = nullptr;   // submission-queue links, owned by the runtime while queued
  task* prev_task = nullptr;   // (a carrier queue's newest-first list is taken from both ends)

 protected:
  ~task() = default;
};

}  // namespace fiberpool::detail
