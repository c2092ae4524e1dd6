// job_locals: the values a job keeps through job_local<T> (<fiberpool/job_local.hpp>).
#pragma once

#include <vector>

namespace fiberpool::detail {

using local_make = void* (*)();
using local_destroy = void (*)(void*) noexcept;

// job_local_slot: the calling job's value for `key` (a job_local's address), made with `make` on
// its first use in this job. Throws fiberpool::error outside a job.
void* job_local_slot(const void* key, local_make make, local_destroy destroy);

// A job's values, made on first use; destroyed newest first as the job ends, on its own fiber.
class job_locals {
 public:
  job_locals() = default;
  job_locals(const job_locals&) = delete;
  job_locals& operator=(const job_locals&) = delete;
  ~job_locals();
  void* find(const void* key) const noexcept;
  void* add(const void* key, local_make make, local_destroy destroy);

 private:
  struct slot {
    const void* key;
    void* value;
    local_destroy destroy;
  };
  std::vector<slot> slots_;
};

}  // namespace fiberpool::detail
