// Prints prometheus_text() of a process with pools in several states (one a process-wide name
// shared by two pools, one with failures and kills, one queued and rejected), for
// check_prometheus.py to validate with the prometheus_client parser.
#include <cstdio>
#include <stdexcept>
#include <vector>

#include <fiberpool/fiberpool.hpp>

int main() {
  fiberpool::pool_options o;
  o.name = "web";
  o.threads = 2;
  o.limit = 2;
  o.max_queued = 1;
  o.on_overflow = fiberpool::overflow::reject;
  o.log_failures = false;
  fiberpool::task_pool web(o);
  fiberpool::task_pool twin(o);  // the same name
  o.name = "never started";
  fiberpool::task_pool idle(o);
  web.start();
  twin.start();

  for (int i = 0; i < 50; ++i) web.apply([] { fiberpool::this_job::sleep_for(std::chrono::microseconds(50)); }).get();
  web.apply([] { throw std::runtime_error("boom"); }).wait();
  fiberpool::event hold;
  auto a = twin.apply([&] { hold.wait(); });
  auto b = twin.apply([&] { hold.wait(); });
  auto c = twin.apply([] {});
  try {
    twin.apply([] {});
  } catch (const fiberpool::pool_full&) {
  }
  twin.terminate_job(a.id());
  a.wait();
  c.get();  // started by a's end: only b is left running
  fiberpool::event fired;
  web.timer().call_after(std::chrono::milliseconds(1), [&] { fired.set(); });
  fired.wait();

  std::fputs(fiberpool::prometheus_text().c_str(), stdout);
  hold.set();
  b.get();
}
