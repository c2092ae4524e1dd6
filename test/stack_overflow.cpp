// A job that overflows its stack makes the process print which job and abort (run in a child).
#include <csignal>
#include <string>

#include <sys/wait.h>
#include <unistd.h>

#include "support.hpp"

using namespace fiberpool;
using namespace fiberpool_test;

namespace {

volatile int depth_limit = 1 << 30;  // not provably infinite, so the compiler keeps the recursion

[[gnu::noinline]] int recurse(int n) {
  volatile char frame[256];
  frame[0] = static_cast<char>(n);
  if (n >= depth_limit) return frame[0];
  return recurse(n + 1) + frame[0];
}

}  // namespace

TEST_CASE("a job that overflows its stack is reported by id and name, and the process aborts") {
  for (std::size_t threads : {std::size_t{1}, std::size_t{2}}) {
    CAPTURE(threads);
    auto [status, err] = in_child([threads] {
      task_pool pool(pool_opts(threads));
      pool.start();
      job_options o;
      o.name = "deep";
      auto j = pool.apply(o, [] { return recurse(0); });
      j.wait();
    });
    CAPTURE(err);
    REQUIRE(WIFSIGNALED(status));
    CHECK(WTERMSIG(status) == SIGABRT);
    CHECK(err.find("fiberpool: stack overflow in job ") != std::string::npos);
    CHECK(err.find("(deep)") != std::string::npos);
  }
}

TEST_CASE("a segfault that is not a stack overflow still kills the process as a segfault") {
  auto [status, err] = in_child([] {
    task_pool pool(pool_opts(1));
    pool.start();
    pool.apply([] {
          volatile int* null_pointer = nullptr;
          *null_pointer = 1;
        })
        .wait();
  });
  CAPTURE(err);
#if defined(__SANITIZE_ADDRESS__)
  // Under the sanitizers the fault is theirs to report: UBSan flags the null store, or ASan's SEGV
  // handler (which ours chains to) reports the fault. Either way the child dies abnormally.
  CHECK_FALSE((WIFEXITED(status) && WEXITSTATUS(status) == 0));
  CHECK((err.find("null pointer") != std::string::npos || err.find("SEGV") != std::string::npos));
#else
  REQUIRE(WIFSIGNALED(status));
  CHECK(WTERMSIG(status) == SIGSEGV);
#endif
  CHECK(err.find("stack overflow") == std::string::npos);
}
