// parker: the primitive every fiberpool wait ends in: one fiber (or thread) waiting to be woken.
#pragma once

#include <optional>

#include <boost/fiber/condition_variable.hpp>

#include <fiberpool/detail/spin_mutex.hpp>
#include <fiberpool/types.hpp>

namespace fiberpool::detail {

// park_until() suspends only the calling fiber when called on a fiber, and blocks the thread
// otherwise (Boost.Fiber gives every thread a main context). unpark() is safe from any thread and
// never suspends, so it may be called under a spin_mutex; an unpark before the park is kept.
class parker {
 public:
  // park_until: waits for unpark() or the deadline; true if unparked. Consumes the unpark.
  bool park_until(std::optional<clock::time_point> deadline) noexcept;
  void unpark() noexcept;

 private:
  spin_mutex mu_;
  boost::fibers::condition_variable_any cv_;
  bool unparked_ = false;
};

}  // namespace fiberpool::detail
