// live_registry: the live objects of one kind in the process, for process-wide views.
#pragma once

#include <algorithm>
#include <mutex>
#include <utility>
#include <vector>

namespace fiberpool::base {

// prometheus_text(), dump_jobs() and the control socket see every live runtime and pool of the
// process: each one adds itself when made and removes itself first thing when destroyed.
// for_each() holds the registry's lock while it calls `f`, so an object being destroyed on another
// thread waits in remove() until `f` is done with it. The lock is recursive and `f` walks a copy,
// each object looked up again before its call, so `f` may make or destroy objects of the same kind
// (a control command's grow() runs pool_resized receivers, which may).
template <class T>
class live_registry {
 public:
  static live_registry& instance() noexcept {
    static live_registry* r = new live_registry;  // leaked: objects die during static destruction
    return *r;
  }
  void add(T* p) {
    std::lock_guard lk(mu_);
    items_.push_back(p);
  }
  void remove(T* p) noexcept {
    std::lock_guard lk(mu_);
    auto it = std::find(items_.begin(), items_.end(), p);
    if (it != items_.end()) items_.erase(it);
  }
  // with_lock: f() while no for_each() is under way (what a view may use must not change under it).
  template <class F>
  void with_lock(F&& f) {
    std::lock_guard lk(mu_);
    f();
  }
  // for_each: f(object) for every live object, oldest first.
  template <class F>
  void for_each(F&& f) {
    std::lock_guard lk(mu_);
    const std::vector<T*> snapshot = items_;
    for (T* p : snapshot)
      if (std::find(items_.begin(), items_.end(), p) != items_.end()) f(*p);
  }

 // membership: adds `p` for as long as it lives; leave() removes it sooner (first thing in the
  // owner's destructor, before it tears down what a view reads).
  class membership {
   public:
    explicit membership(T* p) : p_(p) { instance().add(p); }
    ~membership() { leave(); }
    membership(const membership&) = delete;
    membership& operator=(const membership&) = delete;
    void leave() noexcept {
      if (p_) instance().remove(std::exchange(p_, nullptr));
    }

   private:
    T* p_;
  };

 private:
  std::recursive_mutex mu_;
  std::vector<T*> items_;
};

}  // namespace fiberpool::base
