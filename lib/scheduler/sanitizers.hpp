// sanitizers: tells ASan, TSan and valgrind about the fiber stacks and the switches fiberpool schedules.
#pragma once

#include <cstddef>

namespace boost::fibers { class context; }

namespace fiberpool::scheduler::sanitizers {

// Boost.Context (fcontext, as Debian builds it) switches stacks without telling ASan. Every switch
// Boost.Fiber makes on a runtime thread goes to the context our algorithm's pick_next() returned
// (or, once, from the dispatcher back to the main context as the thread's scheduler shuts down),
// so pick_next() announces it (__sanitizer_start_switch_fiber) and the code that gets control on
// the other side completes it (__sanitizer_finish_switch_fiber): our hooks, the fiber body's start
// and the parker after its wait. Until then ASan tells the two stacks apart by the stack pointer.
// TSan is told the same switches (a TSan fiber per context: sanitizers.cpp says what else it needs).
// In a build with none of ASan, TSan and valgrind they are empty inline functions: the hot path
// pays nothing.

#if defined(__SANITIZE_ADDRESS__)
#define FIBERPOOL_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define FIBERPOOL_ASAN 1
#endif
#endif

#if defined(__SANITIZE_THREAD__)
#define FIBERPOOL_TSAN 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define FIBERPOOL_TSAN 1
#endif
#endif

// The switch hooks are needed by ASan, TSan and valgrind (which must learn each thread's
// dispatcher stack); the rest only by ASan, or only by TSan.
#if defined(FIBERPOOL_ASAN) || defined(FIBERPOOL_TSAN) || defined(FIBERPOOL_VALGRIND)
#define FIBERPOOL_SWITCH_HOOKS 1
// switching_to: `to` is the context Boost resumes next, from the calling context. Under TSan it
// must be the last thing before Boost switches, called from a function TSan does not instrument
// (FIBERPOOL_NO_TSAN): from then on TSan takes the thread to be running `to`.
void switching_to(boost::fibers::context* to) noexcept;
// thread_begin: call on a runtime thread before it installs the algorithm. Arranges for ASan's
// idea of the thread's stack to be put back after the scheduler's last, unannotated, switch, and
// registers the thread's own stack with valgrind.
void thread_begin() noexcept;
#else
inline void switching_to(boost::fibers::context*) noexcept {}
inline void thread_begin() noexcept {}
#endif

#if defined(FIBERPOOL_ASAN) || defined(FIBERPOOL_TSAN)
// fiber_ending: the calling fiber's body has returned; its next switch is its last.
void fiber_ending() noexcept;
#else
inline void fiber_ending() noexcept {}
#endif

#if defined(FIBERPOOL_ASAN)
// arrived: completes the switch that brought control here, if one is pending. Cheap; call it
// first thing wherever control may arrive after a switch.
void arrived() noexcept;
// unpoison: clears ASan's poison from [p, p+n), left by a dead fiber's frames that never returned.
void unpoison(void* p, std::size_t n) noexcept;
#else
inline void arrived() noexcept {}
inline void unpoison(void*, std::size_t) noexcept {}
#endif

#if defined(FIBERPOOL_TSAN)
#define FIBERPOOL_NO_TSAN __attribute__((no_sanitize("thread")))
#define FIBERPOOL_TSAN_NOINLINE __attribute__((noinline))
// stack_freed: the fiber that ran on the stack with this header is gone (TSan's state for it too).
// Call before touching the stack's header.
void stack_freed(void* header) noexcept;
// fiber_gone: the fiber of ours whose Boost properties are at `props` ended and is being destroyed
// (call first thing in the properties' destructor). Boost destroys a fiber wherever its last
// reference goes, maybe on another thread than the one it ended on, and TSan does not see that
// Boost's reference count orders the two.
void fiber_gone(const void* props) noexcept;
// lock_released / lock_acquired: a lock we hand to Boost.Fiber (which unlocks it, uninstrumented,
// once the fiber is switched out) still orders the next holder after us.
void lock_released(const void* lock) noexcept;
void lock_acquired(const void* lock) noexcept;
#else
#define FIBERPOOL_NO_TSAN
#define FIBERPOOL_TSAN_NOINLINE
inline void stack_freed(void*) noexcept {}
inline void fiber_gone(const void*) noexcept {}
inline void lock_released(const void*) noexcept {}
inline void lock_acquired(const void*) noexcept {}
#endif

// register_stack / deregister_stack: valgrind's stack registry (FIBERPOOL_VALGRIND builds).
unsigned register_stack(void* low, void* high) noexcept;
void deregister_stack(unsigned id) noexcept;

}  // namespace fiberpool::scheduler::sanitizers
