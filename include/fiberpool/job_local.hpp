// job_local<T>: state that belongs to one job, where Boost's fiber_specific_ptr belongs to a fiber.
#pragma once

#include <fiberpool/detail/job_locals.hpp>

namespace fiberpool {

// job_local<T>: one T per job, default-constructed on its first use inside a job and destroyed when
// that job ends (on the job's fiber, after its function returned or threw). A job's fiber is a
// carrier that runs later jobs too, so Boost's fiber_specific_ptr would hand one job's state to the
// next; job_local does not. get() outside a job throws fiberpool::error. The job_local itself must
// outlive the jobs that use it (a static, or a member of something that does).
template <class T>
class job_local {
 public:
  T& get() { return *static_cast<T*>(detail::job_local_slot(this, &make, &destroy)); }
  T* operator->() { return &get(); }
  T& operator*() { return get(); }

 private:
  static void* make() { return new T(); }
  static void destroy(void* p) noexcept { delete static_cast<T*>(p); }
};

}  // namespace fiberpool
