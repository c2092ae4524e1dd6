// sanitizers: ASan and TSan fiber-switch annotations and valgrind stack registration.
#include "scheduler/sanitizers.hpp"

#include <utility>

#include <boost/context/stack_traits.hpp>
#include <boost/fiber/context.hpp>
#include <boost/fiber/type.hpp>

#include "scheduler/stack_allocator.hpp"

#if defined(FIBERPOOL_ASAN)
#include <sanitizer/asan_interface.h>
#include <sanitizer/common_interface_defs.h>
#endif
#if defined(FIBERPOOL_TSAN)
#include <sanitizer/tsan_interface.h>
#endif
#if defined(FIBERPOOL_VALGRIND)
#include <pthread.h>
#include <valgrind/valgrind.h>
#endif

namespace fiberpool::scheduler::sanitizers {

#if defined(FIBERPOOL_ASAN)
namespace {

// Per runtime thread. Trivially destructible, so it stays usable while thread-locals are destroyed
// (the scheduler's last switches happen then). Main and dispatcher contexts never leave their
// thread, so their stacks and saved fake stacks live here; a worker's live in its stack_header.
struct thread_switches {
  bool pending = false;            // a switch was started and not yet finished
  bool ending = false;             // the running fiber's body returned
  bool from_main = false;          // the pending switch left the main context
  const void* main_bottom = nullptr;
  std::size_t main_size = 0;
  void* main_fake = nullptr;
  const void* dispatcher_bottom = nullptr;
  std::size_t dispatcher_size = 0;
  void* dispatcher_fake = nullptr;
  void* spare_fake = nullptr;      // for a context that is not on a stack of ours
};
thread_local thread_switches tl;

using boost::fibers::type;

// fake_slot: where ASan keeps `ctx`'s fake stack (detect_stack_use_after_return) while it is out.
void** fake_slot(boost::fibers::context* ctx) noexcept {
  if (ctx->is_context(type::main_context)) return &tl.main_fake;
  if (ctx->is_context(type::dispatcher_context)) return &tl.dispatcher_fake;
  if (stack_header* h = stack_header_of(ctx)) return &h->fake_stack;
  return &tl.spare_fake;
}

// stack_of: the bounds of `ctx`'s stack, false when unknown.
bool stack_of(boost::fibers::context* ctx, const void*& bottom, std::size_t& size) noexcept {
  if (ctx->is_context(type::main_context)) {
    // Learnt from ASan when the main context first switched out (see arrived()).
    bottom = tl.main_bottom;
    size = tl.main_size;
  } else if (ctx->is_context(type::dispatcher_context)) {
    if (!tl.dispatcher_bottom) {
      // Boost mallocs the dispatcher's stack and puts the context at its top: ASan knows the block.
      void* region = nullptr;
      std::size_t region_size = 0;
      if (__asan_locate_address(ctx, nullptr, 0, &region, &region_size) && region) {
        tl.dispatcher_bottom = region;
        tl.dispatcher_size = region_size;
      }
    }
    bottom = tl.dispatcher_bottom;
    size = tl.dispatcher_size;
  } else if (stack_header* h = stack_header_of(ctx)) {
    bottom = h->bottom;
    size = h->size;
  } else {
    return false;
  }
  return bottom != nullptr;
}

// The guard's destructor runs after Boost.Fiber's per-thread scheduler is gone, on the thread's own
// stack: the scheduler's last switch (dispatcher to main, inside Boost) was not announced, so ASan
// still takes the freed dispatcher stack for the thread's. Put its own stack back before ASan
// clears the thread's stack shadow at exit.
struct thread_guard {
  [[gnu::no_sanitize_address]] ~thread_guard() {
    if (!tl.main_bottom) return;
    // Boost's contexts are gone: finish by hand, as the main context, which is where we are.
    if (std::exchange(tl.pending, false)) __sanitizer_finish_switch_fiber(nullptr, nullptr, nullptr);
    void* stale = nullptr;
    __sanitizer_start_switch_fiber(&stale, tl.main_bottom, tl.main_size);
    __sanitizer_finish_switch_fiber(tl.main_fake, nullptr, nullptr);
  }
};

}  // namespace

// Not instrumented, so that its frame is never on ASan's fake stack (detect_stack_use_after_return):
// for a dying fiber it destroys that fake stack, and its epilogue would then write into it.
[[gnu::no_sanitize_address]] static void asan_switching_to(boost::fibers::context* to) noexcept {
  arrived();
  const void* bottom;
  std::size_t size;
  if (!stack_of(to, bottom, size)) return;  // unknown stack: ASan falls back on its SP heuristics
  boost::fibers::context* from = boost::fibers::context::active();
  // A dying fiber hands over no fake stack: ASan frees it.
  void** save = tl.ending ? nullptr : fake_slot(from);
  tl.ending = false;
  tl.from_main = from->is_context(type::main_context);
  tl.pending = true;
  __sanitizer_start_switch_fiber(save, bottom, size);
}

void arrived() noexcept {
  if (!tl.pending) return;
  tl.pending = false;
  const void* old_bottom = nullptr;
  std::size_t old_size = 0;
  __sanitizer_finish_switch_fiber(*fake_slot(boost::fibers::context::active()), &old_bottom, &old_size);
  if (tl.from_main && !tl.main_bottom) {
    tl.main_bottom = old_bottom;
    tl.main_size = old_size;
  }
}

void fiber_ending() noexcept { tl.ending = true; }

static void asan_thread_begin() noexcept {
  static thread_local thread_guard guard;
  (void)guard;
}

void unpoison(void* p, std::size_t n) noexcept { ASAN_UNPOISON_MEMORY_REGION(p, n); }

#else
namespace {
void asan_switching_to(boost::fibers::context*) noexcept {}
void asan_thread_begin() noexcept {}
}  // namespace
#endif

#if defined(FIBERPOOL_VALGRIND)
unsigned register_stack(void* low, void* high) noexcept { return VALGRIND_STACK_REGISTER(low, high); }
void deregister_stack(unsigned id) noexcept { VALGRIND_STACK_DEREGISTER(id); }

namespace {

// Valgrind tells a stack switch from a function's frame by the stack pointer: a move into another
// registered stack is a switch; otherwise a move of more than --max-stackframe (2 MiB by default)
// is taken for a switch, and a smaller one for frames pushed or popped, so the memory between the
// two stacks is marked undefined or inaccessible. Stacks can be mapped within 2 MiB of each other,
// so every stack a runtime thread switches between must be registered: fiber stacks (ours, in
// stack_allocator.cpp), the dispatcher's, and the thread's own (the main context's).
//
// Boost mallocs each thread's dispatcher stack (fixedsize_stack, 128 KiB) and puts the dispatcher
// context at its top. We register it the first time our algorithm hands it to Boost, but Boost
// already jumped onto it and back once, as it created it inside the thread's first
// context::active(); and threads that are not the runtime's (an application thread that posts or
// waits) get a dispatcher from Boost that we never see. Those switches, between a thread's own stack
// and its dispatcher's, can only be told by their distance. A dispatcher block above the thread's
// stack is at least about 126 KiB away (its context, where its stack pointers start, is at the top
// of a separate 128 KiB block); one below it is at least the thread's unused stack depth away
// (megabytes for a default 8 MiB thread stack). So memcheck must run with --max-stackframe below
// 126 KiB: test/meson.build's 'valgrind' setup uses 64 KiB. (Seen without it: a test thread's
// dispatcher 389 KiB above its stack pointer, and the jump that created it made memcheck mark the
// thread's TLS block inaccessible: hundreds of invalid-read and uninitialised-value reports.)
struct valgrind_stacks {
  const boost::fibers::context* dispatcher = nullptr;
  unsigned dispatcher_id = 0;
  bool native = false;
  unsigned native_id = 0;
  // Destroyed after Boost.Fiber's per-thread state (constructed before it, in thread_begin), so the
  // scheduler's last switch, dispatcher to main context, still sees both stacks registered.
  ~valgrind_stacks() {
    if (dispatcher) VALGRIND_STACK_DEREGISTER(dispatcher_id);
    if (native) VALGRIND_STACK_DEREGISTER(native_id);
  }
};
// Initial-exec: read at every switch, and a shared library's default model calls __tls_get_addr.
[[gnu::tls_model("initial-exec")]] thread_local valgrind_stacks tl_vg;

void valgrind_switching_to(boost::fibers::context* to) noexcept {
  if (tl_vg.dispatcher || !to->is_context(boost::fibers::type::dispatcher_context)) return;
  // The context's size and Boost's 256-byte rounding stay far below a page: the stack's low end is
  // at least default_size() - 4096 below the context, which is where its stack pointers start.
  char* high = reinterpret_cast<char*>(to);
  char* low = high - (boost::context::stack_traits::default_size() - 4096);
  tl_vg.dispatcher = to;
  tl_vg.dispatcher_id = VALGRIND_STACK_REGISTER(low, high);
}

// The thread's own stack, where its main context runs (the hub loop): fiber stacks may be mapped
// right above it, closer than any --max-stackframe could tell.
void valgrind_thread_begin() noexcept {
  valgrind_stacks& vg = tl_vg;  // constructed now, before Boost.Fiber's per-thread state
  if (!RUNNING_ON_VALGRIND || vg.native) return;
  pthread_attr_t attr;
  if (::pthread_getattr_np(::pthread_self(), &attr) != 0) return;
  void* low = nullptr;
  std::size_t size = 0;
  if (::pthread_attr_getstack(&attr, &low, &size) == 0 && low) {
    vg.native = true;
    vg.native_id = VALGRIND_STACK_REGISTER(low, static_cast<char*>(low) + size);
  }
  ::pthread_attr_destroy(&attr);
}

}  // namespace
#else
unsigned register_stack(void*, void*) noexcept { return 0; }
void deregister_stack(unsigned) noexcept {}
namespace {
void valgrind_switching_to(boost::fibers::context*) noexcept {}
void valgrind_thread_begin() noexcept {}
}  // namespace
#endif

#if defined(FIBERPOOL_TSAN)
namespace {

// ThreadSanitizer. TSan keeps a state per thread: its vector clock, its shadow call stack (pushed
// at every instrumented function's entry, popped at its exit) and the accesses it is blamed for.
// With its fiber API each context gets one too, and __tsan_switch_to_fiber, called just before
// Boost switches, makes the target's the thread's and orders what the switching context did before
// what the target does next. A runtime thread's main context keeps the thread's own state; its
// dispatcher gets one here; every fiber on our stacks gets one at its first switch, kept in the
// stack's header and destroyed right after its last switch: TSan allows 8128 threads and fibers
// alive at once, and Boost frees terminated fibers only when the dispatcher next runs, which may
// be thousands of jobs later (more than 8128 fibers suspended at once is still beyond TSan).
//
// Boost.Fiber and Boost.Context come uninstrumented, which costs two things:
// - Switches we cannot annotate. Boost makes three besides those pick_next() returns: the jump onto
//   a new fiber's stack and back as it creates it, the last jump back into a terminated fiber as it
//   frees it, and the dispatcher's last switch to the main context as the thread's scheduler shuts
//   down. The first two run only uninstrumented code on the fiber's stack, because the templates
//   that do (Boost.Context's fiber_entry, worker_context::run_) are instantiated in a file compiled
//   without TSan (lib/runtime/fiber_launch.cpp): instrumented, their entries and exits would land
//   on the wrong shadow stacks. The third is made up for by the thread guard below.
// - Synchronization TSan cannot see: Boost's spinlocks, its remote-ready queue, its reference
//   counts. Handing a fiber to another thread needs none of it to be seen: our ready queues
//   (worker_set, ready_queue.cpp) and parkers (spin_mutex) are instrumented, and switch_to_fiber
//   orders each switch. What does need it: Boost destroys a fiber and frees its stack wherever the
//   last reference to its context goes, which may be another thread than the one it ended on (its
//   creator detaching it after another thread ran it to its end). The fiber's last switch releases
//   its properties and stack header, and fiber_gone() / stack_freed() acquire them before we touch
//   either; without that, TSan reports races between the fiber and its destructor (fiber_tag in
//   lib/sync/fiber_site.cpp, the per-thread block cache it goes back to, the stack header).
// Not modelled by TSan, and harmless here: atomic_thread_fence (GCC's -Wtsan, silenced in
// lib/meson.build). Ours, in worker_set::wake_sleeper, only keeps a wake-up from being lost.
struct tsan_thread {
  void* main = nullptr;        // the thread's own state, where its main context runs
  void* dispatcher = nullptr;  // made at the first switch to the dispatcher
  bool ending = false;         // the running fiber's body returned: its next switch is its last
};
thread_local tsan_thread tl_tsan;

// tsan_fiber_of: TSan's state for `ctx`, made when first needed; null for a context we do not know.
void* tsan_fiber_of(boost::fibers::context* ctx) noexcept {
  if (ctx->is_context(boost::fibers::type::main_context)) return tl_tsan.main;
  if (ctx->is_context(boost::fibers::type::dispatcher_context)) {
    if (!tl_tsan.dispatcher) tl_tsan.dispatcher = __tsan_create_fiber(0);
    return tl_tsan.dispatcher;
  }
  if (stack_header* h = stack_header_of(ctx)) {
    if (!h->tsan_fiber) h->tsan_fiber = __tsan_create_fiber(0);
    return h->tsan_fiber;
  }
  return nullptr;
}

// Destroyed after Boost.Fiber's per-thread state (constructed before it, in thread_begin).
struct tsan_thread_guard {
  FIBERPOOL_NO_TSAN ~tsan_thread_guard() {
    // The dispatcher's last switch, back to the main context as the thread's scheduler shut down,
    // was Boost's own: TSan still takes the thread to be running the dispatcher.
    if (tl_tsan.main && __tsan_get_current_fiber() != tl_tsan.main) __tsan_switch_to_fiber(tl_tsan.main, 0);
    if (tl_tsan.dispatcher) __tsan_destroy_fiber(std::exchange(tl_tsan.dispatcher, nullptr));
  }
};

FIBERPOOL_NO_TSAN void tsan_switching_to(boost::fibers::context* to) noexcept {
  void* fiber = tsan_fiber_of(to);
  if (!fiber) return;
  void* dying = nullptr;
  if (tl_tsan.ending) {
    tl_tsan.ending = false;
    boost::fibers::context* self = boost::fibers::context::active();
    if (stack_header* h = stack_header_of(self)) {
      dying = h->tsan_fiber;
      h->tsan_fiber = nullptr;
      // Whichever context drops Boost's last reference to this fiber destroys it and frees its
      // stack, maybe on another thread: the creator, when it detaches the fiber after another
      // thread ran it to its end. Boost orders that after this through the context's reference
      // count, which TSan cannot see: fiber_gone() and stack_freed() acquire what this releases.
      if (void* props = self->get_properties()) __tsan_release(props);
      __tsan_release(h);
    }
  }
  __tsan_switch_to_fiber(fiber, 0);
  if (dying) __tsan_destroy_fiber(dying);  // not the running one any more
}

void tsan_thread_begin() noexcept {
  static thread_local tsan_thread_guard guard;
  (void)guard;
  tl_tsan.main = __tsan_get_current_fiber();
}

}  // namespace

void fiber_ending() noexcept { tl_tsan.ending = true; }

void fiber_gone(const void* props) noexcept {
  __tsan_acquire(const_cast<void*>(props));  // the fiber's end (tsan_switching_to)
}

void lock_acquired(const void* lock) noexcept { __tsan_acquire(const_cast<void*>(lock)); }
void lock_released(const void* lock) noexcept { __tsan_release(const_cast<void*>(lock)); }

void stack_freed(void* header) noexcept {
  auto* h = static_cast<stack_header*>(header);
  __tsan_acquire(h);  // the fiber's end (tsan_switching_to)
  if (h->tsan_fiber) __tsan_destroy_fiber(std::exchange(h->tsan_fiber, nullptr));
}
#else
namespace {
void tsan_switching_to(boost::fibers::context*) noexcept {}
void tsan_thread_begin() noexcept {}
}  // namespace
#endif

#if defined(FIBERPOOL_SWITCH_HOOKS)
// TSan's switch last: see sanitizers.hpp.
FIBERPOOL_NO_TSAN void switching_to(boost::fibers::context* to) noexcept {
  valgrind_switching_to(to);
  asan_switching_to(to);
  tsan_switching_to(to);
}

void thread_begin() noexcept {
  valgrind_thread_begin();
  asan_thread_begin();
  tsan_thread_begin();
}
#endif

}  // namespace fiberpool::scheduler::sanitizers
