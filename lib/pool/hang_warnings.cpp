// Silent hangs made loud: waits on a pool that was never started, and kills that job code swallows.
#include <string>

#include <spdlog/spdlog.h>

#include <fiberpool/errors.hpp>

#include "pool/pool_core.hpp"

namespace fiberpool::detail {

void pool_core::warn_never_started(const char* what, job_id id) noexcept {
  if (warned_never_started_.exchange(true, std::memory_order_relaxed)) return;
  const std::string subject = id ? "job " + std::to_string(id) : std::string("its jobs");
  SPDLOG_LOGGER_WARN(log,
                     "fiberpool: {} has waited {} ms for {} of pool '{}', which was never started: nothing it holds "
                     "runs until start() is called; call start() on the pool (a later start() from another "
                     "thread lets the wait go on)",
                     what, std::chrono::duration_cast<std::chrono::milliseconds>(never_started_nag).count(), subject,
                     opts.name);
}

void pool_core::report_swallowed_kill(const job_record& rec) noexcept {
  const char* name = rec.extras && !rec.extras->name.empty() ? rec.extras->name.c_str() : "-";
  SPDLOG_LOGGER_WARN(log,
                     "fiberpool: job {} ({}) in pool '{}' caught its kill and went on; the kill is raised again at "
                     "each cancellation point until the job returns. Rethrow fiberpool::job_terminated from "
                     "catch (...) blocks (this is logged once per job)",
                     rec.id(), name, opts.name);
}

}  // namespace fiberpool::detail
