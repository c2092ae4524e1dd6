// overflow_guard: turns a fiber's hit on its stack guard page into a named report, not a bare segfault.
#pragma once

#include <cstddef>

namespace fiberpool::detail {

// Writes, async-signal-safely, what runs on the calling fiber ("job 12 (fetch)") into buf and
// returns the length; 0 when no job runs there. Registered by the pool layer, which knows jobs.
using fault_describer = std::size_t (*)(char* buf, std::size_t cap) noexcept;
void set_fault_describer(fault_describer d) noexcept;

// install_overflow_guard: the process-wide SIGSEGV/SIGBUS handler, installed once; faults that are
// not a stack overflow on a runtime thread go on to the handler that was there before.
void install_overflow_guard();

// alt_stack: the signal stack of one runtime thread (the overflowed stack cannot run the handler).
class alt_stack {
 public:
  alt_stack();
  ~alt_stack();
  alt_stack(const alt_stack&) = delete;
  alt_stack& operator=(const alt_stack&) = delete;

 private:
  void* mem_ = nullptr;
  std::size_t size_ = 0;
};

}  // namespace fiberpool::detail
