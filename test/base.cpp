// The base layer's hot-path tools, tested directly (internal: lib/base): the per-thread block
// cache job records come from, and the tick clock carriers date tasks with.
#include <chrono>
#include <cstdlib>
#include <thread>
#include <vector>

#include <doctest/doctest.h>

#include "base/block_cache.hpp"
#include "base/tick_clock.hpp"
#include "scheduler/sanitizers.hpp"  // FIBERPOOL_ASAN

namespace block_cache = fiberpool::base::block_cache;
namespace tick_clock = fiberpool::base::tick_clock;

#if !defined(FIBERPOOL_ASAN)  // under ASan every block goes to the system allocator
TEST_CASE("block_cache hands a freed block to the next allocation of its size class on the thread") {
  if (std::getenv("FIBERPOOL_UNDER_VALGRIND")) return;  // bypassed there too, by design
  std::thread([] {
    void* a = block_cache::allocate(100);
    block_cache::deallocate(a, 100);
    CHECK(block_cache::cached_blocks() == 1);
    void* b = block_cache::allocate(120);  // 65..128: the same class
    CHECK(b == a);
    CHECK(block_cache::cached_blocks() == 0);
    void* c = block_cache::allocate(200);  // another class: not the cached block
    block_cache::deallocate(b, 120);
    void* d = block_cache::allocate(200);
    CHECK(d != b);
    block_cache::deallocate(c, 200);
    block_cache::deallocate(d, 200);
  }).join();
}

TEST_CASE("block_cache keeps at most max_blocks of a class per thread") {
  if (std::getenv("FIBERPOOL_UNDER_VALGRIND")) return;
  std::thread([] {
    std::vector<void*> blocks;
    for (std::size_t i = 0; i < block_cache::max_blocks + 100; ++i) blocks.push_back(block_cache::allocate(64));
    for (void* p : blocks) block_cache::deallocate(p, 64);
    CHECK(block_cache::cached_blocks() == block_cache::max_blocks);
    // Blocks larger than max_size are never cached.
    block_cache::deallocate(block_cache::allocate(block_cache::max_size + 1), block_cache::max_size + 1);
    CHECK(block_cache::cached_blocks() == block_cache::max_blocks);
  }).join();
}
#endif

TEST_CASE("block_cache blocks are usable across threads: freed on one, reused on the other") {
  std::vector<void*> blocks;
  std::thread([&] {
    for (int i = 0; i < 500; ++i) {
      auto* p = static_cast<unsigned char*>(block_cache::allocate(48));
      for (int k = 0; k < 48; ++k) p[k] = static_cast<unsigned char>(i);
      blocks.push_back(p);
    }
  }).join();
  std::thread([&] {
    for (void* p : blocks) block_cache::deallocate(p, 48);
    for (int i = 0; i < 500; ++i) {
      auto* p = static_cast<unsigned char*>(block_cache::allocate(64));
      p[63] = 1;
      block_cache::deallocate(p, 64);
    }
  }).join();  // the thread's lists are freed as it exits: nothing leaks (ASan, memcheck)
  CHECK(blocks.size() == 500);
}

TEST_CASE("tick_clock spans agree with steady_clock") {
  using namespace std::chrono;
  CHECK(tick_clock::ticks_in(microseconds(100)) >= 1);
  // Converting there and back loses at most a tick's rounding.
  auto back = tick_clock::span_of(tick_clock::ticks_in(milliseconds(10)));
  CHECK(back > microseconds(9'900));
  CHECK(back <= milliseconds(10));
  // A span read both ways around a sleep: both clocks measure the same wall time, however loaded
  // the machine is. The counter's reads sit between two pairs of clock reads, so its span is at
  // least the inner clock span and at most the outer one, give or take the calibration's error
  // (each read is done once before, so no first-call cost, or valgrind's translation, falls inside).
  (void)tick_clock::now();
  (void)steady_clock::now();
  auto outer0 = steady_clock::now();
  auto c0 = tick_clock::now();
  auto inner0 = steady_clock::now();
  std::this_thread::sleep_for(milliseconds(20));
  auto inner1 = steady_clock::now();
  auto c1 = tick_clock::now();
  auto outer1 = steady_clock::now();
  auto inner = duration_cast<nanoseconds>(inner1 - inner0);
  auto outer = duration_cast<nanoseconds>(outer1 - outer0);
  auto by_ticks = tick_clock::span_of(c1 - c0);
  CAPTURE(inner.count());
  CAPTURE(outer.count());
  CAPTURE(by_ticks.count());
  CHECK(by_ticks <= outer * 105 / 100 + microseconds(50));
  CHECK(by_ticks >= inner * 95 / 100 - microseconds(50));
}
