// poll_source: readiness the scheduler harvests for a layer above it (the hub's I/O poller).
#pragma once

namespace fiberpool::scheduler {

// The scheduler calls poll() where no Boost.Fiber lock is held, so poll() may wake fibers:
// - after its thread's idle epoll_wait reports fd() readable (fd() is in every thread's epoll);
// - from the dispatcher, once per round of the ready queue (no sooner than 16 picks after its last
//   turn: ready_queue::dispatcher_every), while active() says something is registered, so a
//   thread that never idles still sees I/O.
class poll_source {
 public:
  virtual int fd() const noexcept = 0;
  virtual bool active() const noexcept = 0;
  virtual void poll() noexcept = 0;  // never blocks

 protected:
  ~poll_source() = default;
};

}  // namespace fiberpool::scheduler
