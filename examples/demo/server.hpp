// The echo server: a loopback listener, an acceptor job and one job per connection, all in one
// task_pool; and the plan for resizing that pool while it serves.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include <fiberpool/io.hpp>
#include <fiberpool/job.hpp>
#include <fiberpool/options.hpp>
#include <fiberpool/types.hpp>

namespace fiberpool { class task_pool; }

namespace demo {

// The job_options for the demo's job number `index` in a pool (name, and the on_ended callback
// that feeds the pool's ledger).
using options_factory = std::function<fiberpool::job_options(std::string name, std::size_t index)>;

class echo_server {
 public:
  // echo_server: listens on 127.0.0.1 at a free port, to accept `connections` connections.
  // Throws fiberpool::io_error. Make it before the pool it serves in: the pool's jobs use it, and
  // the pool's destructor is what waits for them.
  echo_server(options_factory make_options, std::size_t connections);
  std::uint16_t port() const { return listener_.port(); }

  // start: applies the acceptor job (index 0) to `pool`. It accepts the planned connections, applies a job
  // "conn <client address>" for each (indices 1, 2, ...) that echoes what it reads until the
  // client closes, and then ends.
  fiberpool::job<void> start(fiberpool::task_pool& pool);
  // applied: jobs applied to the pool so far, the acceptor included.
  std::size_t applied() const noexcept { return 1 + accepted_.load(); }
  // stop_listening: closes the listener, once the acceptor has ended. Call it while the pool's
  // runtime is alive: the listener is registered with that runtime's I/O poller.
  void stop_listening() noexcept { listener_.close(); }
  // find_connection: the live job serving the client whose local port is `client_port`, found in
  // the pool's jobs() by name, as an operator finds a process in ps.
  std::optional<fiberpool::job_info> find_connection(const fiberpool::task_pool& pool,
                                                     std::uint16_t client_port) const;

 private:
  void accept_connections();

  fiberpool::task_pool* pool_ = nullptr;  // set by start()
  options_factory make_options_;
  std::size_t expected_;
  fiberpool::io::tcp_listener listener_;
  std::atomic<std::size_t> accepted_{0};
};

// How the main thread resizes the server pool during the run (eventlet grow / shrink / resize).
enum class resize_kind { grow, shrink, resize };
struct resize_step {
  double at;               // when, as a fraction of the sending time
  resize_kind how;
  std::size_t amount;      // grow/shrink by this much, or resize to it
  std::string why;         // shown in the log
};
struct limit_plan {
  std::size_t initial = 0;
  std::vector<resize_step> steps;
  std::size_t largest = 0;  // the highest limit the plan sets: a bound on jobs running at once
  std::size_t smallest = 0;
};

// plan_limits: a server pool limit that always stays above what it must hold (every client
// connection, the stuck one and the acceptor), so no connection ever waits in the queue, while
// it grows for a burst, shrinks back and is set to its normal size.
limit_plan plan_limits(std::size_t connections);

// echo_connection: the body of a connection job: read what is there, write it back, until the
// client closes (read_some returns 0). Every read and write wait is a cancellation point.
void echo_connection(fiberpool::io::tcp_stream& conn);

// Socket addresses for names and logs: the local and the remote port of a connected socket, and
// the remote address as "host:port".
std::uint16_t local_port(int fd);
std::string peer_address(int fd);

}  // namespace demo
