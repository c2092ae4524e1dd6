// overflow_guard: a SIGSEGV handler on an alternate stack that recognises fiber stack overflows.
#include "runtime/overflow_guard.hpp"

#include <algorithm>
#include <atomic>
#include <csignal>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <mutex>

#include <sys/mman.h>
#include <ucontext.h>
#include <unistd.h>

namespace fiberpool::detail {
namespace {

std::atomic<fault_describer> describer{nullptr};
struct sigaction previous_segv {};
struct sigaction previous_bus {};
thread_local bool tl_guarded = false;  // this thread runs fibers and has an alternate stack

// A fault this close below the stack pointer is a push or a frame that ran into the guard page.
constexpr std::uintptr_t overflow_reach = 256 * 1024;

std::uintptr_t stack_pointer(void* uctx) noexcept {
  auto* uc = static_cast<ucontext_t*>(uctx);
#if defined(__x86_64__)
  return static_cast<std::uintptr_t>(uc->uc_mcontext.gregs[REG_RSP]);
#elif defined(__aarch64__)
  return static_cast<std::uintptr_t>(uc->uc_mcontext.sp);
#else
  (void)uc;
  return 0;
#endif
}

std::size_t append(char* buf, std::size_t at, std::size_t cap, const char* s) noexcept {
  while (*s && at < cap) buf[at++] = *s++;
  return at;
}

void chain(int sig, siginfo_t* info, void* uctx) noexcept {
  const struct sigaction& prev = sig == SIGBUS ? previous_bus : previous_segv;
  if (prev.sa_flags & SA_SIGINFO) {
    if (prev.sa_sigaction) return prev.sa_sigaction(sig, info, uctx);
  } else if (prev.sa_handler != SIG_DFL && prev.sa_handler != SIG_IGN) {
    return prev.sa_handler(sig);
  }
  // Default action: returning re-executes the faulting instruction, which now kills the process.
  ::signal(sig, SIG_DFL);
  // A signal sent rather than a fault (kill -SEGV, raise(SIGSEGV)) has no instruction to
  // re-execute: sent again, it stays pending while this handler runs and kills on return.
  if (info->si_code <= 0) ::raise(sig);
}

void on_fault(int sig, siginfo_t* info, void* uctx) noexcept {
  auto addr = reinterpret_cast<std::uintptr_t>(info->si_addr);
  std::uintptr_t sp = stack_pointer(uctx);
  long page = ::sysconf(_SC_PAGESIZE);
  bool overflow = tl_guarded && sp != 0 && addr < sp + static_cast<std::uintptr_t>(page) && addr + overflow_reach >= sp;
  if (!overflow) return chain(sig, info, uctx);

  char msg[256];
  std::size_t n = append(msg, 0, sizeof msg - 1, "fiberpool: stack overflow in ");
  fault_describer d = describer.load(std::memory_order_acquire);
  std::size_t described = d ? d(msg + n, sizeof msg - 1 - n) : 0;
  n = described ? n + described : append(msg, n, sizeof msg - 1, "a fiber that runs no job");
  n = append(msg, n, sizeof msg - 1, "; raise pool_options::stack_size\n");
  [[maybe_unused]] auto w = ::write(STDERR_FILENO, msg, n);
  ::signal(SIGABRT, SIG_DFL);
  std::abort();
}

}  // namespace

void set_fault_describer(fault_describer d) noexcept { describer.store(d, std::memory_order_release); }

void install_overflow_guard() {
  static std::once_flag once;
  std::call_once(once, [] {
    struct sigaction sa {};
    sa.sa_sigaction = &on_fault;
    sa.sa_flags = SA_SIGINFO | SA_ONSTACK;
    sigemptyset(&sa.sa_mask);
    ::sigaction(SIGSEGV, &sa, &previous_segv);
    ::sigaction(SIGBUS, &sa, &previous_bus);
  });
}

alt_stack::alt_stack() {
  long min = ::sysconf(_SC_SIGSTKSZ);
  size_ = std::max<std::size_t>(min > 0 ? static_cast<std::size_t>(min) : 0, 64 * 1024);
  void* p = ::mmap(nullptr, size_, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (p == MAP_FAILED) return;  // no report on overflow, but the thread still works
  stack_t ss{};
  ss.ss_sp = p;
  ss.ss_size = size_;
  if (::sigaltstack(&ss, nullptr) != 0) {
    ::munmap(p, size_);
    return;
  }
  mem_ = p;
  tl_guarded = true;
}

alt_stack::~alt_stack() {
  if (!mem_) return;
  tl_guarded = false;
  stack_t ss{};
  ss.ss_flags = SS_DISABLE;
  ::sigaltstack(&ss, nullptr);
  ::munmap(mem_, size_);
}

}  // namespace fiberpool::detail
