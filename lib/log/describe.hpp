// describe: turns a caught exception into the text fiberpool logs for it.
#pragma once

#include <exception>
#include <string>

namespace fiberpool::detail {

// describe: what() of a std::exception or a job_terminated, or a placeholder for anything else.
// Never throws.
std::string describe(std::exception_ptr e) noexcept;

}  // namespace fiberpool::detail
