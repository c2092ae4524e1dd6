// The stdout logger and the progress line; both write to the same stdout FILE, so they never reorder.
#include "console.hpp"

#include <cstdio>

#include <spdlog/sinks/stdout_color_sinks.h>

namespace demo {
namespace {

// "\r" back to column 0, then ANSI "erase to end of line".
constexpr const char* erase_line = "\r\033[K";

void print(const progress& p, const char* before, const char* after) {
  // Short enough for an 80-column terminal, where a wrapped line could not be redrawn in place.
  std::printf("%s%5.1f s  limit %5zu  serving %5zu  waiting %5zu  msgs %8zu  %6.0f msg/s%s", before, p.elapsed_s,
              p.limit, p.serving, p.waiting, p.messages, p.rate, after);
  std::fflush(stdout);  // stdout is fully buffered in a pipe; show each update when it happens
}

}  // namespace

std::shared_ptr<spdlog::logger> make_console_logger(bool terminal) {
  // make_shared, not spdlog::stdout_color_mt(): that would register the name in spdlog's global
  // registry, which belongs to the application as a whole.
  auto sink = std::make_shared<spdlog::sinks::stdout_color_sink_mt>();
  auto log = std::make_shared<spdlog::logger>("demo", std::move(sink));
  log->set_pattern(std::string(terminal ? erase_line : "") + "%H:%M:%S.%e %^%-5l%$ %v");
  log->set_level(spdlog::level::info);  // fiberpool logs job failures at debug: thousands of lines
  return log;
}

void progress_line::show(const progress& p) const {
  if (terminal_) print(p, erase_line, "");
  else print(p, "progress ", "\n");
}

void progress_line::finish(const progress& p) const {
  print(p, terminal_ ? erase_line : "progress ", "\n");
}

}  // namespace demo
