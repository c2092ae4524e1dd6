// thread_counter: a count that many threads change all the time and that is read rarely.
#pragma once

#include <cstddef>

namespace fiberpool::base {

// diagnostics::snapshot() reports live fibers, job records and stacks. Counting them in one
// shared atomic costs a locked instruction per change, and with several threads the counter's
// cache line moves between cores on every job. Instead each thread counts in its own shard
// (a plain load and store), and read() sums the shards under a lock. A change made on one thread
// and undone on another leaves one shard up and the other down: the sum is still right.
// read() is exact once the threads that changed the count are joined or have synchronized with
// the reader; while they run it is a recent value.
class thread_counter {
 public:
  thread_counter() noexcept;
  thread_counter(const thread_counter&) = delete;
  thread_counter& operator=(const thread_counter&) = delete;

  void add(long delta) noexcept;
  void increment() noexcept { add(1); }
  void decrement() noexcept { add(-1); }
  std::size_t read() const noexcept;

  // How many thread_counters the process may have (they are static objects, one per statistic).
  static constexpr std::size_t max_counters = 8;

 private:
  std::size_t slot_;  // this counter's index in every shard
};

}  // namespace fiberpool::base
