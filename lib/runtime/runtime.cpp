// runtime: the public facade over runtime_core.
#include <fiberpool/runtime.hpp>

#include <spdlog/spdlog.h>

#include <fiberpool/log.hpp>

#include "log/describe.hpp"
#include "runtime/runtime_core.hpp"

namespace fiberpool {

runtime::runtime(runtime_options opts) : core_(std::make_unique<detail::runtime_core>(*this, std::move(opts))) {}
runtime::~runtime() = default;

std::size_t runtime::threads() const { return core_->threads(); }
const std::string& runtime::name() const { return core_->options().name; }
void runtime::restart() { core_->restart(); }
bool runtime::started() const { return core_->started(); }
void runtime::submit(detail::task* t) { core_->submit(t); }
int runtime::poll_fd() const { return core_->poll_fd(); }
std::size_t runtime::run_ready() { return core_->run_ready(); }
std::optional<clock::time_point> runtime::next_deadline() const { return core_->next_deadline(); }
bool runtime::hosted() const noexcept { return core_->hosted(); }
runtime_stats runtime::stats() const { return core_->stats(); }

runtime* runtime::current() noexcept {
  auto* core = detail::runtime_core::current();
  return core ? &core->owner() : nullptr;
}

namespace detail {

void report_post_error(std::exception_ptr e) noexcept {
  try {
    auto* core = runtime_core::current();
    SPDLOG_LOGGER_ERROR(core ? core->log() : fiberpool::logger(), "fiberpool: a fiber started by post() threw: {}",
                        describe(e));
  } catch (...) {
  }
}

}  // namespace detail
}  // namespace fiberpool
