// describe: turns a caught exception into the text fiberpool logs for it.
#pragma once

#include <exception>
#include <string>

namespace fiberpool::detail {

// describe: what() of a std::exception or a job_terminated, or a placeholder for anything else.
// Never throws.
std::string describe(std::exception_ptr e) noexcept;
// type_name: the demangled type of the exception e holds ("std::runtime_error"), or "unknown".
std::string type_name(const std::exception_ptr& e) noexcept;

}  // namespace fiberpool::detail
