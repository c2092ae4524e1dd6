// fiber_launch: the one place fiberpool instantiates Boost.Fiber's and Boost.Context's fiber templates.
//
// In a ThreadSanitizer build this file is compiled without instrumentation. TSan keeps a shadow
// call stack per fiber (lib/scheduler/sanitizers.cpp), pushed at every instrumented function's
// entry and popped at its exit, and these templates have frames that begin on one fiber and end on
// another, across switches nothing can annotate: Boost.Context's fiber_entry starts on the new stack
// during the jump that creates it (the creator's shadow stack gets the push), and the fiber's outer
// frames (fiber_record::run, worker_context::run_, std::invoke) return during the last, hidden
// resume with which Boost frees a terminated fiber (the freeing context's shadow stack gets the
// pops). Uninstrumented, they push and pop nothing; everything the fiber does is in fiber_body().
#include "runtime/fiber_launch.hpp"

#include <memory>

#include <boost/fiber/fiber.hpp>

#include "scheduler/stack_allocator.hpp"

namespace fiberpool::detail {

void launch_fiber(std::size_t stack_size, carrier_queue* home) {
  boost::fibers::fiber f(std::allocator_arg, scheduler::stack_allocator(stack_size), [home] { fiber_body(home); });
  f.detach();
}

}  // namespace fiberpool::detail
