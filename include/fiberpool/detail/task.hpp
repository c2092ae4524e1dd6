// task: a unit of work the runtime runs on a new fiber of one of its threads.
#pragma once

namespace fiberpool::detail {

// Intrusive so the submission queue never allocates. The implementer owns its lifetime: run() is
// called exactly once on a runtime fiber, or discard() if the runtime shuts down before it ran.
class task {
 public:
  virtual void run() noexcept = 0;
  virtual void discard() noexcept = 0;
  task* next_task = nullptr;   // submission-queue link, owned by the runtime while queued

 protected:
  ~task() = default;
};

}  // namespace fiberpool::detail
