// The library-wide default logger (one of the two pieces of global state fiberpool allows).
#include <fiberpool/log.hpp>

#include <mutex>

#include <spdlog/sinks/stdout_sinks.h>

namespace fiberpool {
namespace {

std::shared_ptr<spdlog::logger> make_default_logger() {
  // Unregistered on purpose: a library must not claim names in the application's registry.
  auto l = std::make_shared<spdlog::logger>("fiberpool", std::make_shared<spdlog::sinks::stderr_sink_mt>());
  l->set_level(spdlog::level::warn);
  return l;
}

struct default_logger {
  std::mutex mu;
  std::shared_ptr<spdlog::logger> logger = make_default_logger();
};

default_logger& state() {
  static default_logger s;
  return s;
}

}  // namespace

void set_logger(std::shared_ptr<spdlog::logger> l) {
  if (!l) l = std::make_shared<spdlog::logger>("fiberpool");  // no sinks: silence
  auto& s = state();
  std::lock_guard lk(s.mu);
  s.logger = std::move(l);
}

std::shared_ptr<spdlog::logger> logger() {
  auto& s = state();
  std::lock_guard lk(s.mu);
  return s.logger;
}

}  // namespace fiberpool
