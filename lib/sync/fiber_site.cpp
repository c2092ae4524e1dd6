// fiber_site: lives in the job fiber's Boost.Fiber properties so any wait can find it.
#include <cstddef>
#include <new>
#include <typeinfo>

#include <boost/fiber/context.hpp>
#include <boost/fiber/properties.hpp>

#include <fiberpool/detail/wait.hpp>

#include "scheduler/algorithm.hpp"
#include "scheduler/sanitizers.hpp"

namespace fiberpool::detail {
namespace {

// A per-thread free list of tags: one is taken for every job fiber and given back when Boost
// deletes the fiber's context, usually on the same thread, so malloc stays off the job path.
class tag_free_list {
 public:
  static constexpr std::size_t bound = 1024;
  void* take() noexcept {
    if (!head_) return nullptr;
    node* n = head_;
    head_ = n->next;
    --size_;
    return n;
  }
  bool give(void* p) noexcept {
    if (size_ >= bound) return false;
    head_ = new (p) node{head_};
    ++size_;
    return true;
  }
  ~tag_free_list() {
    while (void* p = take()) ::operator delete(p);
  }

 private:
  struct node { node* next; };
  node* head_ = nullptr;
  std::size_t size_ = 0;
};

[[gnu::tls_model("initial-exec")]] thread_local bool tl_list_dead = false;
struct tag_list_holder {
  tag_free_list list;
  ~tag_list_holder() { tl_list_dead = true; }
};

tag_free_list* this_thread_list() noexcept {
  if (tl_list_dead) return nullptr;
  [[gnu::tls_model("initial-exec")]] static thread_local tag_list_holder holder;
  return &holder.list;
}

// Boost.Fiber deletes a context's properties with the context, so the site's lifetime is exactly
// the fiber's. Only fibers fiberpool runs jobs on get one.
struct fiber_tag final : boost::fibers::fiber_properties {
  explicit fiber_tag(boost::fibers::context* ctx) noexcept : boost::fibers::fiber_properties(ctx) {}
  ~fiber_tag() override { scheduler::sanitizers::fiber_gone(this); }
  fiber_site site;

  static void* operator new(std::size_t size) {
    if (auto* list = this_thread_list(); list && size == sizeof(fiber_tag))
      if (void* p = list->take()) return p;
    return ::operator new(size);
  }
  static void operator delete(void* p) noexcept {
    auto* list = this_thread_list();
    if (!list || !list->give(p)) ::operator delete(p);
  }
};

}  // namespace

fiber_site* this_fiber_site() noexcept {
  // Job fibers run only on runtime threads, where the scheduler tracks the running context.
  auto* ctx = scheduler::running_context();
  auto* props = ctx ? ctx->get_properties() : nullptr;
  // Another algorithm (an application's own, on its own threads) may have set properties too.
  if (!props || typeid(*props) != typeid(fiber_tag)) return nullptr;
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
