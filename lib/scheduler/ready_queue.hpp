// ready_queue: one scheduler thread's ready fibers; other threads of the runtime steal from it.
#pragma once

#include <atomic>
#include <cstddef>
#include <memory>

#include <boost/fiber/context.hpp>

#include <fiberpool/detail/spin_mutex.hpp>

namespace fiberpool::scheduler {

using boost::fibers::context;

// A growable ring of contexts. The owner pushes at the back and pops at the front (FIFO, like
// round_robin); thieves take from the back and never take a pinned context (a thread's main or
// dispatcher context), which must stay on its thread.
class ready_queue {
 public:
  ready_queue();
  void push(context* ctx) noexcept;
  context* pop() noexcept;
  context* steal() noexcept;
  bool empty() const noexcept { return size_.load(std::memory_order_relaxed) == 0; }
  // stealable: contexts a thief could take (non-pinned), as a hint for idling decisions.
  std::size_t stealable() const noexcept { return stealable_.load(std::memory_order_seq_cst); }

 private:
  void grow() noexcept;
  context*& at(std::size_t i) noexcept { return ring_[(head_ + i) & (capacity_ - 1)]; }

  detail::spin_mutex mu_;
  std::unique_ptr<context*[]> ring_;
  std::size_t capacity_;
  std::size_t head_ = 0;
  std::atomic<std::size_t> size_{0};
  std::atomic<std::size_t> stealable_{0};
};

}  // namespace fiberpool::scheduler
