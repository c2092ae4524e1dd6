// cpu_hog: a competing workload: threads that spin on every CPU while switched on, the way another
// process on the same machine (or in the same container) would.
#pragma once

#include <atomic>
#include <cstddef>
#include <thread>
#include <vector>

namespace autoscale_example {

class cpu_hog {
 public:
  // cpu_hog: `threads` spinning threads, idle (blocked, not spinning) until on().
  explicit cpu_hog(std::size_t threads);
  ~cpu_hog();  // stops and joins the threads
  cpu_hog(const cpu_hog&) = delete;
  cpu_hog& operator=(const cpu_hog&) = delete;

  void on();
  void off();
  bool is_on() const { return state_.load() == running; }

 private:
  enum : int { idle = 0, running = 1, leaving = 2 };
  void spin();
  std::atomic<int> state_{idle};
  std::vector<std::thread> threads_;
};

}  // namespace autoscale_example
