// The echo server's jobs (acceptor, connections), its resize plan, and socket address helpers.
#include "server.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <span>
#include <utility>

#include <fiberpool/task_pool.hpp>

namespace demo {
namespace {

// The kernel caps the accept backlog at net.core.somaxconn (4096 on current kernels); thousands
// of clients connect at once when the run starts.
constexpr int listen_backlog = 4096;
// Room above the connections the server must hold (clients, the stuck one, the acceptor).
constexpr std::size_t headroom = 100;

sockaddr_storage address_of(int fd, bool peer) {
  sockaddr_storage addr{};
  socklen_t len = sizeof addr;
  int rc = peer ? getpeername(fd, reinterpret_cast<sockaddr*>(&addr), &len)
                : getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  if (rc != 0) throw fiberpool::io_error(errno, peer ? "getpeername" : "getsockname");
  return addr;
}

std::uint16_t port_of(const sockaddr_storage& addr) {
  if (addr.ss_family == AF_INET6) return ntohs(reinterpret_cast<const sockaddr_in6&>(addr).sin6_port);
  return ntohs(reinterpret_cast<const sockaddr_in&>(addr).sin_port);
}

}  // namespace

std::uint16_t local_port(int fd) { return port_of(address_of(fd, false)); }

std::string peer_address(int fd) {
  sockaddr_storage addr = address_of(fd, true);
  std::array<char, INET6_ADDRSTRLEN> host{};
  const void* raw = addr.ss_family == AF_INET6
                        ? static_cast<const void*>(&reinterpret_cast<const sockaddr_in6&>(addr).sin6_addr)
                        : static_cast<const void*>(&reinterpret_cast<const sockaddr_in&>(addr).sin_addr);
  inet_ntop(addr.ss_family, raw, host.data(), host.size());
  return std::string(host.data()) + ":" + std::to_string(port_of(addr));
}

echo_server::echo_server(options_factory make_options, std::size_t connections)
    : make_options_(std::move(make_options)),
      expected_(connections),
      listener_(fiberpool::io::tcp_listener::bind("127.0.0.1", 0, listen_backlog)) {}

fiberpool::job<void> echo_server::start(fiberpool::task_pool& pool) {
  pool_ = &pool;
  return pool.apply(make_options_("acceptor", 0), [this] { accept_connections(); });
}

void echo_server::accept_connections() {
  while (accepted_.load() < expected_) {
    fiberpool::io::tcp_stream conn = listener_.accept();
    std::string name = "conn " + peer_address(conn.native_handle());
    std::size_t index = accepted_.load() + 1;  // only this job writes accepted_
    // The pool's limit stays above the connections (plan_limits), so the job starts at once
    // rather than inline on this fiber, which would stop accepting until that client left.
    pool_->apply(make_options_(std::move(name), index), [c = std::move(conn)]() mutable { echo_connection(c); });
    accepted_.store(index);  // after apply(): applied() counts only jobs the pool accepted
  }
}

std::optional<fiberpool::job_info> echo_server::find_connection(const fiberpool::task_pool& pool,
                                                                std::uint16_t client_port) const {
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
  plan.initial = connections + 2 + headroom;  // + the stuck connection + the acceptor
  std::size_t burst = std::max<std::size_t>(connections / 2, 1);
  plan.steps = {
      {0.35, resize_kind::grow, burst, "a burst of connections is expected: make room for it"},
      {0.60, resize_kind::shrink, burst + headroom / 2,
       "the burst did not come: hand capacity back (running connections are never killed)"},
      {0.80, resize_kind::resize, plan.initial, "back to the normal size"},
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
