// The echo server: io::serve() of a loopback listener into a task_pool, one job per connection;
// and the plan for resizing that pool while it serves.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include <fiberpool/io.hpp>
#include <fiberpool/options.hpp>
#include <fiberpool/serve.hpp>
#include <fiberpool/types.hpp>

namespace fiberpool { class task_pool; }

namespace demo {

// The job_options for a job named `name` (the on_ended callback feeds the pool's ledger).
using options_factory = std::function<fiberpool::job_options(std::string name)>;

class echo_server {
 public:
  // echo_server: listens on 127.0.0.1 at a free port; each connection's job gets `per_connection`
  // (its name left empty: serve() names it "conn <client address>"). Throws fiberpool::io_error.
  explicit echo_server(fiberpool::job_options per_connection);
  ~echo_server();
  echo_server(const echo_server&) = delete;
  echo_server& operator=(const echo_server&) = delete;
  std::uint16_t port() const noexcept { return port_; }

  // start: io::serve() into `pool`. The acceptor is a fiber of the pool's runtime, not a job: it
  // holds no slot, and accepts a connection only while the pool has a free slot, so the pool's
  // limit is the number of connections served at once and the rest wait in the listen backlog.
  // Each connection's job echoes what it reads until the client closes.
  void start(fiberpool::task_pool& pool);
  // applied: connections accepted so far, each one job of the pool.
  std::size_t applied() const noexcept { return server_.accepted(); }
  // stop_listening: stops the acceptor and closes the listener; connections being served go on.
  void stop_listening();
  // backlog: connections the kernel has completed and the acceptor has not taken yet: the clients
  // waiting for a slot (Linux's TCP_INFO of a listening socket; 0 where it cannot tell).
  std::size_t backlog() const noexcept;
  // find_connection: the live job serving the client whose local port is `client_port`, found in
  // the pool's jobs() by name, as an operator finds a process in ps.
  static std::optional<fiberpool::job_info> find_connection(const fiberpool::task_pool& pool,
                                                            std::uint16_t client_port);

 private:
  fiberpool::job_options per_connection_;
  fiberpool::io::tcp_listener listener_;  // until start() hands it to serve()
  std::uint16_t port_;
  int probe_fd_ = -1;                     // a dup of the listening socket, for backlog()
  fiberpool::io::server server_;
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

// plan_limits: a server pool limit below the number of connections, so some wait: half the
// clients (and the stuck one) at first; grow() lets every waiting one in; shrink() to a quarter
// holds most of them back again as sessions end; resize() back to half.
limit_plan plan_limits(std::size_t connections);

// echo_connection: the body of a connection job: read what is there, write it back, until the
// client closes (read_some returns 0). Every read and write wait is a cancellation point.
void echo_connection(fiberpool::io::tcp_stream& conn);

// local_port: the local port of a connected socket (a client's, to find its server job by name).
std::uint16_t local_port(int fd);

}  // namespace demo
