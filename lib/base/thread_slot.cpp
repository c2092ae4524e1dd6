// thread_slot: slots handed out from a bitmap under a lock, given back by a thread-local's destructor.
#include "base/thread_slot.hpp"

#include <bitset>
#include <mutex>

namespace fiberpool::base {
namespace {

struct slot_registry {
  std::mutex mu;
  std::bitset<max_thread_slots> taken;
};

slot_registry& registry() noexcept {
  static slot_registry* r = new slot_registry;  // leaked: threads exit during static destruction
  return *r;
}

// Past max_thread_slots: the holder below is destroyed, or no slot was left.
constexpr std::size_t dead = max_thread_slots + 2;

struct slot_holder {
  std::size_t slot;
  explicit slot_holder(std::size_t s) noexcept : slot(s) {}
  ~slot_holder() {
    auto& r = registry();
    std::lock_guard lk(r.mu);
    r.taken.reset(slot);
    tl_slot_plus_one = dead;
  }
};

}  // namespace

// Zero-initialised (constinit: no TLS wrapper call) means "none yet".
[[gnu::tls_model("initial-exec")]] constinit thread_local std::size_t tl_slot_plus_one = 0;

std::size_t take_thread_slot() noexcept {
  if (tl_slot_plus_one == dead) return no_thread_slot;
  std::size_t s = no_thread_slot;
  {
    auto& r = registry();
    std::lock_guard lk(r.mu);
    for (std::size_t i = 0; i < max_thread_slots; ++i) {
      if (!r.taken.test(i)) {
        r.taken.set(i);
        s = i;
        break;
      }
    }
  }
  if (s == no_thread_slot) {
    tl_slot_plus_one = dead;  // never ask again: this thread uses the shared shards
    return s;
  }
  static thread_local slot_holder holder(s);
  tl_slot_plus_one = s + 1;
  return s;
}

}  // namespace fiberpool::base
