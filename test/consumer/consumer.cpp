// Built by test/consumer/run.sh against fiberpool fetched through a wrap: checks that the public
// headers, the library and its dependencies all reach a downstream project through the dependency.
#include <fiberpool/fiberpool.hpp>

#include <cstdio>

int main() {
  fiberpool::task_pool pool;
  pool.start();
  auto j = pool.apply([] { return 41 + 1; });
  int v = j.get();
  pool.stop();
  if (v != 42) {
    std::fprintf(stderr, "consumer: job returned %d, expected 42\n", v);
    return 1;
  }
  std::puts("consumer ok");
  return 0;
}
