// fault_report: names the job on the calling fiber for the stack-overflow report (signal context).
#include <cstddef>
#include <cstdint>

#include "pool/pool_core.hpp"
#include "runtime/overflow_guard.hpp"

namespace fiberpool::detail {
namespace {

// Runs inside the SIGSEGV handler: no allocation, no locks, no stdio.
std::size_t describe_current_job(char* buf, std::size_t cap) noexcept {
  job_record* job = current_job();
  if (!job) return 0;
  std::size_t n = 0;
  auto put = [&](char c) { if (n < cap) buf[n++] = c; };
  auto puts = [&](const char* s) { while (*s) put(*s++); };
  puts("job ");
  char digits[24];
  int d = 0;
  for (std::uint64_t id = job->id(); d == 0 || id > 0; id /= 10) digits[d++] = static_cast<char>('0' + id % 10);
  while (d > 0) put(digits[--d]);
  puts(" (");
  puts(job->extras && !job->extras->name.empty() ? job->extras->name.c_str() : "unnamed");
  put(')');
  return n;
}

}  // namespace

void register_fault_report() noexcept { set_fault_describer(&describe_current_job); }

}  // namespace fiberpool::detail
