// Logging of exceptions thrown by signal receivers: they never reach the emitter.
#include <fiberpool/errors.hpp>
#include <fiberpool/log.hpp>
#include <fiberpool/signals.hpp>

#include <spdlog/spdlog.h>

namespace fiberpool::detail {

void report_receiver_error(const std::shared_ptr<spdlog::logger>& log, std::exception_ptr e) noexcept {
  try {
    auto l = log ? log : fiberpool::logger();
    try {
      std::rethrow_exception(e);
    } catch (const std::exception& ex) {
      SPDLOG_LOGGER_ERROR(l, "fiberpool: a signal receiver threw: {}", ex.what());
    } catch (const job_terminated& ex) {
      SPDLOG_LOGGER_ERROR(l, "fiberpool: a signal receiver threw: {}", ex.what());
    } catch (...) {
      SPDLOG_LOGGER_ERROR(l, "fiberpool: a signal receiver threw a non-standard exception");
    }
  } catch (...) {
    // Logging itself failed (out of memory, a broken sink): nothing better to do than go on.
  }
}

}  // namespace fiberpool::detail
