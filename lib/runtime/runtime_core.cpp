// runtime_core: a runtime's construction and destruction, and which runtime and thread the
// calling code is on. Threads start and exit in threads.cpp, tasks arrive through hub.cpp, carriers
// run them (carriers.cpp), and a hosted runtime lives on its host's thread (hosting.cpp).
#include "runtime/runtime_core.hpp"

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <stdexcept>
#include <string>

#include <fiberpool/errors.hpp>
#include <fiberpool/log.hpp>
#include <fiberpool/options.hpp>

#include "base/tick_clock.hpp"
#include "runtime/host_state.hpp"
#include "runtime/loop_driver.hpp"
#include "runtime/overflow_guard.hpp"
#include "runtime/thread_state.hpp"

namespace fiberpool::detail {
namespace {

std::atomic<std::size_t> runtimes_alive{0};

}  // namespace

void check_stack_size(std::size_t bytes, const char* option) {
  if (bytes < min_stack_size)
    throw std::invalid_argument("fiberpool: " + std::string(option) + " " + std::to_string(bytes) +
                                " is below the minimum of " + std::to_string(min_stack_size) +
                                " bytes; use at least fiberpool::min_stack_size");
  if (bytes > max_stack_size)
    throw std::invalid_argument("fiberpool: " + std::string(option) + " " + std::to_string(bytes) +
                                " is above the maximum of " + std::to_string(max_stack_size) +
                                " bytes (fiberpool::max_stack_size); every job reserves a whole stack, "
                                "so keep large data on the heap and the stack small");
}

// initial-exec: read on every carrier start and end; the default model for a shared library would
// call __tls_get_addr each time.
[[gnu::tls_model("initial-exec")]] thread_local current_thread tl_current;

[[gnu::noinline]] current_thread& this_thread() noexcept {
  asm volatile("" ::: "memory");
  return tl_current;
}

runtime_core* runtime_core::current() noexcept { return this_thread().core; }

[[gnu::tls_model("initial-exec")]] thread_local std::uint32_t tl_thread_index = 0;
[[gnu::tls_model("initial-exec")]] thread_local std::atomic<clock::rep> tl_task_start{0};
[[gnu::tls_model("initial-exec")]] thread_local std::atomic<std::uint64_t> tl_task_start_tick{0};
[[gnu::tls_model("initial-exec")]] thread_local std::atomic<std::uint64_t> tl_task_end_tick{0};

runtime_core::runtime_core(runtime& owner, runtime_options opts)
    : owner_(owner),
      opts_(std::move(opts)),
      log_(fiberpool::logger()),
      workers_(std::max<std::size_t>(4, 4 * (opts_.threads ? opts_.threads : std::thread::hardware_concurrency()))),
      stalls_(std::make_unique<stall_watch>(workers_, opts_.name)),
      by_slot_(new std::atomic<thread_state*>[workers_.capacity()]),
      io_(std::make_shared<hub::io_poller>()),
      offload_(std::make_unique<hub::offload_pool>(opts_.offload_threads, opts_.name)) {
  check_stack_size(opts_.stack_size, "runtime_options::stack_size");
  // The tick clock's calibration (1 ms, once per process) runs here, not in the first carrier,
  // where it would hold that thread.
  (void)base::tick_clock::ns_per_tick();
  if (opts_.threads == 0) opts_.threads = std::max(1u, std::thread::hardware_concurrency());
  if (opts_.hosted) opts_.threads = 1;
  for (std::size_t i = 0; i < workers_.capacity(); ++i) by_slot_[i].store(nullptr);
  states_.resize(workers_.capacity());
  workers_.set_io(io_.get());
  install_overflow_guard();
  if (opts_.hosted) {
    host_here();
    runtimes_alive.fetch_add(1);
    return;
  }
  runtimes_alive.fetch_add(1);
  std::vector<thread_state*> fresh;
  std::lock_guard lk(threads_mu_);
  for (std::size_t i = 0; i < opts_.threads; ++i) fresh.push_back(&launch(i));
  wait_started(fresh);
}

runtime_core::~runtime_core() {
  if (current() == this && !hosted()) {
    std::fputs("fiberpool: a runtime was destroyed from one of its own fibers; destroy it from "
               "another thread\n", stderr);
    std::abort();
  }
  listed_.leave();  // before anything prometheus_text() reads goes
  stalls_.reset();  // its pools are gone, and leaving threads need no watching
  stopping_.store(true);
  driver_.reset();  // leaves the host's loop before the runtime it drives goes
  if (host_) unhost();
  std::vector<thread_state*> all;
  {
    std::lock_guard lk(threads_mu_);
    all.swap(threads_);
  }
  for (auto* ts : all) ts->kick();
  for (auto* ts : all)
    if (ts->thread.joinable()) ts->thread.join();
  for (auto* ts : all) {
    for (task* t = ts->inbox_head; t;) {
      task* next = t->next_task;
      t->discard();
      t = next;
    }
  }
  runtimes_alive.fetch_sub(1);
}

bool runtime_core::started() const {
  std::lock_guard lk(const_cast<std::mutex&>(threads_mu_));
  std::size_t up = 0;
  for (auto* ts : threads_)
    if (ts->slot->state.load() == scheduler::slot_state::active && ts->started.load()) ++up;
  return up == opts_.threads;
}

std::size_t runtime_core::threads() const { return workers_.active(); }

std::size_t live_runtimes() noexcept { return runtimes_alive.load(); }

}  // namespace fiberpool::detail
