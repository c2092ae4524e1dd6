// The echo server on io::serve(), its resize plan, and the local port of a client's socket.
#include "server.hpp"

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <span>
#include <utility>

#include <fiberpool/task_pool.hpp>

namespace demo {
namespace {

// The kernel caps the accept backlog at net.core.somaxconn (4096 on current kernels); the
// connections beyond the pool's limit wait there.
constexpr int listen_backlog = 4096;

}  // namespace

std::uint16_t local_port(int fd) {
  sockaddr_storage addr{};
  socklen_t len = sizeof addr;
  if (getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) != 0) throw fiberpool::io_error(errno, "getsockname");
  if (addr.ss_family == AF_INET6) return ntohs(reinterpret_cast<const sockaddr_in6&>(addr).sin6_port);
  return ntohs(reinterpret_cast<const sockaddr_in&>(addr).sin_port);
}

echo_server::echo_server(fiberpool::job_options per_connection)
    : per_connection_(std::move(per_connection)),
      listener_(fiberpool::io::tcp_listener::bind("127.0.0.1", 0, listen_backlog)),
      port_(listener_.port()),
      probe_fd_(dup(listener_.native_handle())) {}

echo_server::~echo_server() { stop_listening(); }

void echo_server::stop_listening() {
  server_.stop();
  // The dup refers to the same socket: it must go too, or the port would still listen.
  if (probe_fd_ >= 0) close(probe_fd_);
  probe_fd_ = -1;
}

std::size_t echo_server::backlog() const noexcept {
  tcp_info info{};
  socklen_t len = sizeof info;
  if (probe_fd_ < 0 || getsockopt(probe_fd_, IPPROTO_TCP, TCP_INFO, &info, &len) != 0) return 0;
  return info.tcpi_unacked;  // for a listening socket: its accept queue's length
}

void echo_server::start(fiberpool::task_pool& pool) {
  server_ = fiberpool::io::serve(std::move(listener_), pool, echo_connection, per_connection_);
}

std::optional<fiberpool::job_info> echo_server::find_connection(const fiberpool::task_pool& pool,
                                                                std::uint16_t client_port) {
  std::string suffix = ":" + std::to_string(client_port);
  for (fiberpool::job_info& j : pool.jobs())
    if (j.name.starts_with("conn ") && j.name.ends_with(suffix)) return std::move(j);
  return std::nullopt;
}

void echo_connection(fiberpool::io::tcp_stream& conn) {
  // On the job's stack (64 KiB): a few pages of it are all a connection costs beyond its record.
  std::array<std::byte, 4096> buf;
  for (;;) {
    std::size_t n = conn.read_some(buf);
    if (n == 0) return;  // the client closed: a clean end, the job succeeds
    conn.write_all(std::span<const std::byte>(buf.data(), n));
  }
}

limit_plan plan_limits(std::size_t connections) {
  limit_plan plan;
  const std::size_t everyone = connections + 1;  // + the stuck connection
  plan.initial = connections / 2 + 1;
  const std::size_t quarter = connections / 4 + 1;
  plan.steps = {
      {0.25, resize_kind::grow, everyone - plan.initial,
       "room for every client: the waiting connections are accepted from the backlog at once"},
      {0.50, resize_kind::shrink, everyone - quarter,
       "hand capacity back: no connection is cut off, but as sessions end fewer are let in"},
      {0.75, resize_kind::resize, plan.initial, "back to the normal size: half the clients at once"},
  };
  plan.largest = plan.smallest = plan.initial;
  std::size_t limit = plan.initial;
  for (const resize_step& s : plan.steps) {
    switch (s.how) {
      case resize_kind::grow: limit += s.amount; break;
      case resize_kind::shrink: limit -= std::min(s.amount, limit); break;
      case resize_kind::resize: limit = s.amount; break;
    }
    plan.largest = std::max(plan.largest, limit);
    plan.smallest = std::min(plan.smallest, limit);
  }
  return plan;
}

}  // namespace demo
