// Logging of exceptions thrown by signal receivers: they never reach the emitter.
#include <fiberpool/log.hpp>
#include <fiberpool/signals.hpp>

#include <spdlog/spdlog.h>

#include "log/describe.hpp"

namespace fiberpool::detail {

void report_receiver_error(const std::shared_ptr<spdlog::logger>& log, std::exception_ptr e) noexcept {
  try {
    SPDLOG_LOGGER_ERROR(log ? log : fiberpool::logger(), "fiberpool: a signal receiver threw: {}", describe(e));
  } catch (...) {
    // Logging itself failed (out of memory, a broken sink): nothing better to do than go on.
  }
}

}  // namespace fiberpool::detail
