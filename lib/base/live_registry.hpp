// live_registry: the live objects of one kind in the process, for process-wide views.
#pragma once

#include <algorithm>
#include <mutex>
#include <utility>
#include <vector>

namespace fiberpool::base {

// prometheus_text() and dump_jobs() show every live runtime and pool of the process: each one
// adds itself when made and removes itself first thing when destroyed. for_each() holds the
// registry's lock while it calls `f`, so an object being destroyed waits in remove() until the
// view has finished with it; `f` must not make or destroy objects of the same kind.
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
  template <class F>
  void for_each(F&& f) {
    std::lock_guard lk(mu_);
    for (T* p : items_) f(*p);
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
  std::mutex mu_;
  std::vector<T*> items_;
};

}  // namespace fiberpool::base
