// carrier_queue: a runtime thread's started tasks that wait for a carrier fiber to run them.
#pragma once

#include <cstddef>

#include <fiberpool/detail/spin_mutex.hpp>
#include <fiberpool/detail/task.hpp>

namespace fiberpool::detail {

// Tasks do not get fibers of their own: a carrier fiber runs one after another (carriers.cpp,
// "Carriers"). A task started on a runtime thread waits here until a carrier takes it; a carrier
// that finishes its task takes the next one with no switch and no fiber made.
//
// The one rule that keeps this safe: a task here always has a carrier on its way, one made for
// this queue that is ready to run and has not taken a task yet ("coming"). A carrier busy with a
// task cannot count, since its task may block on a task still queued here; so whoever leaves the
// queue non-empty with no carrier coming must make one (push and take say how many).
//
// Only the queue's own thread pushes; carriers on any thread take (a carrier made here may be
// stolen before it runs), hence the lock, which is uncontended on the fast path.
class carrier_queue {
 public:
  // The carriers to have on the way for n queued tasks while `idle` threads sleep: one, plus one
  // per sleeping thread while there is work for it. A woken thread steals a carrier that has not
  // run yet, and that carrier takes tasks from here: a burst of tasks spreads over idle threads
  // instead of waiting behind the carrier of the thread that started them.
  static std::size_t carriers_wanted(std::size_t n, std::size_t idle) noexcept { return n < 1 + idle ? n : 1 + idle; }

  // Two orders, as in the scheduler's ready_queue: tasks a running job started (children it
  // applied) are taken newest first, so a job that applies children and waits for them runs the
  // tree depth first and only a path of it holds stacks; tasks from the hub (other threads'
  // submissions) in arrival order. After `lifo_streak` newest-first takes in a row one task is
  // taken in arrival order, so a job spawning without end cannot starve the others.
  static constexpr unsigned lifo_streak = 32;

  // push: adds t (newest first when `lifo`). Returns how many carriers the caller must make for
  // this queue (counted here already); for each it cannot make, it calls carrier_failed().
  std::size_t push(task* t, bool lifo, std::size_t idle) noexcept;

  struct taken {
    task* t = nullptr;           // null: the queue is empty, and the carrier may end
    std::size_t carriers = 0;    // to make for this queue, as after push()
  };
  // take: the next task, for a carrier. `coming`: the caller is a carrier made for this queue that
  // has not taken a task yet (it stops counting as coming).
  taken take(bool coming, std::size_t idle) noexcept;

  // steal: take(true, idle) for a carrier made for this queue that another thread stole before it
  // ran: it takes the oldest task instead of the newest, as Go's runqsteal and Cilk's thieves do.
  // The oldest children are the biggest subtrees of a job tree, so the thief has work of its own
  // for a while instead of taking the victim's newest tasks one by one from the victim's own end.
  // (Taking half of the queue at once measured no better, and made the thief create carriers for
  // its loot on its own stack before running its first task.)
  taken steal(std::size_t idle) noexcept;
  // coming_back: the calling carrier yields with no task in hand and will take from here when it
  // runs again (take(true, ...)): it counts as coming meanwhile, so nobody makes one for it.
  void coming_back() noexcept;
  // carrier_failed: a carrier push() or take() asked for could not be made. Returns what is left
  // here with no carrier coming (a list linked by next_task, for the caller to end), or null.
  task* carrier_failed() noexcept;

 private:
  std::size_t more_carriers(std::size_t idle) noexcept;  // mu_ held
  task* pop() noexcept;                                   // mu_ held, size_ > 0
  task* pop_oldest() noexcept;                            // mu_ held, size_ > 0
  void push_newest(task* t) noexcept;                     // mu_ held

  spin_mutex mu_;
  task* lifo_ = nullptr;       // a stack, newest first, linked both ways (prev_task: newer)
  task* lifo_oldest_ = nullptr;
  task* fifo_head_ = nullptr;  // a queue, oldest first
  task* fifo_tail_ = nullptr;
  unsigned streak_ = 0;        // lifo takes in a row
  std::size_t size_ = 0;
  std::size_t coming_ = 0;     // carriers made for this queue that have not taken a task yet
};

}  // namespace fiberpool::detail
