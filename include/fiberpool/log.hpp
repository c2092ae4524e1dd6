// The library's injectable spdlog logger.
#pragma once

#include <memory>

#include <spdlog/logger.h>

namespace fiberpool {

// set_logger: makes `l` the library-wide default logger, used by every pool whose
// pool_options::logger is null. Passing null installs a logger with no sinks (silence).
// fiberpool never calls spdlog::set_default_logger and never registers logger names.
void set_logger(std::shared_ptr<spdlog::logger> l);

// logger: the library-wide default. Until set_logger() is called it is an unregistered logger
// named "fiberpool" that writes warnings and errors to stderr.
std::shared_ptr<spdlog::logger> logger();

}  // namespace fiberpool
