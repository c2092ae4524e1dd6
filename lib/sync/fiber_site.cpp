// fiber_site: lives in the job fiber's Boost.Fiber properties so any wait can find it.
#include <cassert>
#include <cstddef>
#include <typeinfo>

#include <boost/fiber/context.hpp>
#include <boost/fiber/properties.hpp>

#include <fiberpool/detail/wait.hpp>

#include "base/block_cache.hpp"
#include "scheduler/algorithm.hpp"
#include "scheduler/sanitizers.hpp"

namespace fiberpool::detail {
namespace {

// Boost.Fiber deletes a context's properties with the context, so the site's lifetime is exactly
// the fiber's. Only fibers fiberpool runs jobs on get one.
struct fiber_tag final : boost::fibers::fiber_properties {
  explicit fiber_tag(boost::fibers::context* ctx) noexcept : boost::fibers::fiber_properties(ctx) {}
  ~fiber_tag() override { scheduler::sanitizers::fiber_gone(this); }
  fiber_site site;

  // One tag is made for every carrier fiber and freed when Boost deletes the fiber's context,
  // usually on the same thread: the thread's free lists keep malloc off that path.
  static void* operator new(std::size_t size) { return base::block_cache::allocate(size); }
  static void operator delete(void* p, std::size_t size) noexcept { base::block_cache::deallocate(p, size); }
};

}  // namespace

fiber_site* this_fiber_site() noexcept {
  // Job fibers run only on runtime threads, where the scheduler tracks the running context.
  auto* ctx = scheduler::running_context();
  auto* props = ctx ? ctx->get_properties() : nullptr;
  if (!props) return nullptr;
  // Only our algorithm's threads have a running context here, and on them only we set properties
  // (the algorithm has none of its own, so Boost never makes any): no typeid test, which would
  // cost three dependent loads on every job's way through apply(), its start and its waits.
  assert(typeid(*props) == typeid(fiber_tag));
  return &static_cast<fiber_tag*>(props)->site;
}

fiber_site& install_fiber_site() {
  if (fiber_site* s = this_fiber_site()) return *s;
  auto* ctx = boost::fibers::context::active();
  auto* tag = new fiber_tag(ctx);
  tag->site.context = ctx;
  ctx->set_properties(tag);
  return tag->site;
}

}  // namespace fiberpool::detail
