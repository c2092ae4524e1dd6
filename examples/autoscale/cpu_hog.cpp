// cpu_hog: a competing workload: threads that spin on every CPU while switched on, the way another
// process on the same machine (or in the same container) would.
#include "cpu_hog.hpp"

namespace autoscale_example {

cpu_hog::cpu_hog(std::size_t threads) {
  for (std::size_t i = 0; i < threads; ++i) threads_.emplace_back([this] { spin(); });
}

cpu_hog::~cpu_hog() {
  state_.store(leaving);
  state_.notify_all();
  for (auto& t : threads_) t.join();
}

void cpu_hog::on() {
  state_.store(running);
  state_.notify_all();
}

void cpu_hog::off() { state_.store(idle); }

void cpu_hog::spin() {
  for (;;) {
    state_.wait(idle);  // off: blocked in the kernel, using no CPU
    volatile unsigned long sink = 0;
    while (state_.load(std::memory_order_relaxed) == running) sink = sink + 1;
    if (state_.load() == leaving) return;
  }
}

}  // namespace autoscale_example
