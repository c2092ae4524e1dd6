// describe: one place that knows fiberpool's exception families, for every "X threw: ..." log line.
#include "log/describe.hpp"

#include <fiberpool/errors.hpp>

namespace fiberpool::detail {

std::string describe(std::exception_ptr e) noexcept {
  try {
    try {
      std::rethrow_exception(e);
    } catch (const std::exception& ex) {
      return ex.what();
    } catch (const job_terminated& ex) {  // deliberately not a std::exception
      return ex.what();
    } catch (...) {
      return "a non-standard exception";
    }
  } catch (...) {
    return "an exception (its description could not be built)";
  }
}

}  // namespace fiberpool::detail
