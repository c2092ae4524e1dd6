// io::serve() and io::server: a TCP server whose connections are jobs of a task_pool, its limit()
// capping the connections being served.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <stdexcept>
#include <type_traits>
#include <utility>

#include <fiberpool/io.hpp>
#include <fiberpool/options.hpp>
#include <fiberpool/task_pool.hpp>

namespace fiberpool {

namespace detail {

class serve_state;  // lib/pool/serve.cpp

// connection_launcher: applies one connection's job to the pool; serve() makes it for its Handler
// type, so the acceptor itself (lib/pool/serve.cpp) is no template.
using connection_launcher = std::function<void(io::tcp_stream&& conn, job_options&& opts)>;

// start_serving: checks the pool is open and starts the acceptor fiber on the pool's runtime.
std::shared_ptr<serve_state> start_serving(io::tcp_listener l, task_pool& pool, connection_launcher launch,
                                           job_options per_connection);

}  // namespace detail

namespace io {

class server;

// serve: accepts connections from `l` on a fiber of the pool's runtime that is no job and holds
// no slot, and runs handler(stream) as one job of `pool` per connection. It accepts the next
// connection only while pool.free() > 0 (and only once the pool has started), so limit() caps the
// connections being served, grow()/shrink()/resize() move the cap live, and connections beyond it
// wait in the kernel's listen backlog (tcp_listener::bind's `backlog`; the client's connect()
// succeeds, its first read waits). A connection accepted just as another apply() or a shrink()
// took the last slot waits in the pool's queue instead. No handler ever runs on the acceptor's
// fiber, so a full pool never stops it accepting once a slot frees.
//  - Handler: callable as `void(tcp_stream&)` or `void(tcp_stream)`, from many jobs at once, so
//    it must be callable as const; the stream closes when the job ends. A handler's exception ends
//    its job failed (the pool logs it), nothing else.
//  - per_connection: each job's options (time limits, group, callbacks); an empty name becomes
//    "conn <remote address>", so jobs() lists connections as ps lists processes.
//  - Accept errors: running out of descriptors (EMFILE/ENFILE) and other transient errors are
//    logged and retried with back-off; a listener that cannot accept any more is logged and the
//    acceptor ends. A connection the pool refuses (pool_full with overflow::reject, pool_locked
//    while lock()ed) is logged and closed.
//  - The pool's end ends the acceptor, which then closes the listener: the pool's stop(),
//    stop_for(), terminate() and destructor stop it and wait for it, so the pool may be destroyed
//    before the server. After a bare close() it ends at its next connection (which it closes)
//    or at once if it is waiting for a slot.
// Throws std::invalid_argument for a closed listener or a null handler, pool_closed for a pool
// that is closed or stopped.
template <class Handler>
server serve(tcp_listener l, task_pool& pool, Handler handler, job_options per_connection = {});

// A running io::serve(): owns the listener and the acceptor. Move-only; the destructor calls
// stop() (in a job that is being killed it only asks the acceptor to stop: a wait there would
// throw from a destructor; the acceptor then ends on its own). Every member is callable from any
// thread and from any fiber, including the handlers'.
class server {
 public:
  server() noexcept = default;
  server(server&& other) noexcept = default;
  // operator=: asks the server this one held to stop (without waiting), then takes other's.
  server& operator=(server&& other) noexcept;
  ~server();

  // stop: stops accepting and closes the listener (connections still in its backlog are reset),
  // and returns once the acceptor has ended. Running handler jobs go on: they are the pool's jobs,
  // and the pool's stop() or terminate() is what waits for them or ends them. Idempotent. From a
  // job its wait is a cancellation point: a kill cuts the wait short, not the stop.
  void stop();
  // accepted: connections taken from the listener and handed to the pool as jobs, so far.
  std::size_t accepted() const noexcept;
  // serving: the acceptor has not ended (it ends at stop(), or by itself when the pool it serves
  // into ends: see serve()).
  bool serving() const noexcept;
  // port: the listener's port (handy with bind(host, 0)); 0 for a default-constructed server.
  std::uint16_t port() const noexcept;

 private:
  template <class Handler>
  friend server serve(tcp_listener l, task_pool& pool, Handler handler, job_options per_connection);
  explicit server(std::shared_ptr<detail::serve_state> s) noexcept : state_(std::move(s)) {}

  std::shared_ptr<detail::serve_state> state_;
};

// --- serve()'s body: the Handler's type is erased here, the acceptor is lib/pool/serve.cpp ---

template <class Handler>
server serve(tcp_listener l, task_pool& pool, Handler handler, job_options per_connection) {
  constexpr bool by_reference = std::is_invocable_v<const Handler&, tcp_stream&>;
  static_assert(by_reference || std::is_invocable_v<const Handler&, tcp_stream&&>,
                "fiberpool: serve() needs a handler callable as void(io::tcp_stream&) or void(io::tcp_stream), "
                "and callable as const: it runs in many connection jobs at once, so a mutable lambda will not do");
  if (detail::is_null_callable(handler))
    throw std::invalid_argument("fiberpool: serve() was given a null handler; pass a function, a lambda or a "
                                "non-empty std::function");
  auto shared = std::make_shared<const Handler>(std::move(handler));
  detail::connection_launcher launch = [&pool, shared](tcp_stream&& conn, job_options&& opts) {
    pool.apply(std::move(opts), [shared, c = std::move(conn)]() mutable {
      if constexpr (by_reference) (*shared)(c);
      else (*shared)(std::move(c));
    });
  };
  return server(detail::start_serving(std::move(l), pool, std::move(launch), std::move(per_connection)));
}

}  // namespace io
}  // namespace fiberpool
