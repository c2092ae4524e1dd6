// fiber_launch: makes the Boost fiber a task runs on. Its own translation unit, so that the Boost
// templates it instantiates can be compiled without ThreadSanitizer (lib/runtime/meson.build).
#pragma once

#include <cstddef>

namespace fiberpool::detail {

class carrier_queue;

// launch_fiber: a detached fiber on a stack of `stack_size` usable bytes, made ready on the calling
// runtime thread, that calls fiber_body(home). Throws what the stack allocator or Boost throws.
void launch_fiber(std::size_t stack_size, carrier_queue* home);

// fiber_body: all a fiber does: it carries tasks from `home` (carriers.cpp).
void fiber_body(carrier_queue* home) noexcept;

}  // namespace fiberpool::detail
