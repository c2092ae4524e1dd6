// doctest support: a fiberpool kill that escapes a test case reads as what it is.
//
// Include it in a doctest test file (any one file of the test program is enough; more do no harm).
// Without it, a job_terminated that escapes a test case, or a CHECK_NOTHROW, reads "unknown
// exception", because a kill is deliberately not a std::exception (errors.hpp says why). With it:
//
//   TEST CASE:  ...
//   ERROR: test case THREW exception: job_terminated(signal 15): fiberpool: job terminated
//
// and a hard time limit's kill (time_limit_exceeded, a job_terminated) reads
// "job_terminated(signal 9): fiberpool: hard time limit exceeded". The text is
// testing::describe() (<fiberpool/testing.hpp>), which this header also makes available.
//
// Header-only: the fiberpool library does not depend on doctest, and a program that does not
// include this header never needs it. Include <doctest/doctest.h> (with DOCTEST_CONFIG_IMPLEMENT
// or DOCTEST_CONFIG_IMPLEMENT_WITH_MAIN where the program wants doctest's implementation) before
// this header or let it include doctest itself; under DOCTEST_CONFIG_DISABLE it registers nothing.
#pragma once

#include <doctest/doctest.h>

#include <fiberpool/errors.hpp>
#include <fiberpool/testing.hpp>

namespace fiberpool::testing {

// doctest_translation: the doctest translator for job_terminated and its subclasses; returns
// describe(kill). Registered with doctest below; tests may call it to see the text directly.
inline doctest::String doctest_translation(const job_terminated& kill) {
  return doctest::String(describe(kill).c_str());
}

}  // namespace fiberpool::testing

namespace fiberpool::detail {
// Registered once per program however many files include this header: doctest keeps one
// translator object per signature (a static in registerExceptionTranslator<T>) and registers a
// given object only once.
inline const int doctest_translator_registered =
    doctest::registerExceptionTranslator(&fiberpool::testing::doctest_translation);
}  // namespace fiberpool::detail
