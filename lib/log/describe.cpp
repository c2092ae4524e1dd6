// describe: one place that knows fiberpool's exception families, for every "X threw: ..." log line.
#include "log/describe.hpp"

#include <cstdlib>
#include <memory>
#include <typeinfo>

#include <cxxabi.h>

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

std::string type_name(const std::exception_ptr& e) noexcept {
  try {
    // libstdc++ (GCC and clang on Linux) keeps the thrown type with the exception.
    const std::type_info* t = e ? e.__cxa_exception_type() : nullptr;
    if (!t) return "unknown";
    int status = 0;
    std::unique_ptr<char, void (*)(void*)> name(abi::__cxa_demangle(t->name(), nullptr, nullptr, &status), std::free);
    return status == 0 && name ? std::string(name.get()) : std::string(t->name());
  } catch (...) {
    return "unknown";
  }
}

}  // namespace fiberpool::detail
