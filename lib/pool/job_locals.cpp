// job_locals: a job's job_local<T> values, kept on its record while it runs.
#include <fiberpool/detail/job_locals.hpp>

#include <fiberpool/detail/job_record.hpp>
#include <fiberpool/errors.hpp>

#include "pool/pool_core.hpp"

namespace fiberpool::detail {

job_locals::~job_locals() {
  for (auto it = slots_.rbegin(); it != slots_.rend(); ++it) it->destroy(it->value);
}

void* job_locals::find(const void* key) const noexcept {
  for (const slot& s : slots_)
    if (s.key == key) return s.value;
  return nullptr;
}

void* job_locals::add(const void* key, local_make make, local_destroy destroy) {
  slots_.reserve(slots_.size() + 1);  // so that a value made is never lost to a failed push_back
  void* value = make();
  slots_.push_back({key, value, destroy});
  return value;
}

void* job_local_slot(const void* key, local_make make, local_destroy destroy) {
  job_record* rec = current_job();
  if (!rec)
    throw fiberpool::error("fiberpool: job_local::get() was called outside a job; job_local holds state "
                           "per job: use it from a function the pool runs (apply, map), or use a plain "
                           "variable elsewhere");
  // Only the job itself touches its locals: no lock.
  if (!rec->locals) rec->locals = std::make_unique<job_locals>();
  if (void* v = rec->locals->find(key)) return v;
  return rec->locals->add(key, make, destroy);
}

}  // namespace fiberpool::detail
