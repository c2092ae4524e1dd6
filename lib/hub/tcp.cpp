// tcp: io::tcp_stream and io::tcp_listener on non-blocking sockets and the runtime's poller.
#include <fiberpool/io.hpp>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <memory>
#include <string>
#include <system_error>
#include <tuple>
#include <utility>

#include <arpa/inet.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <spdlog/spdlog.h>

#include <fiberpool/detail/parker.hpp>
#include <fiberpool/detail/wait.hpp>
#include <fiberpool/log.hpp>

#include "hub/io_wait.hpp"

namespace fiberpool {

io_error::io_error(int errno_value, const std::string& what_happened)
    : io_error(errno_value, what_happened, std::strerror(errno_value)) {}

io_error::io_error(int errno_value, const std::string& what_happened, const std::string& reason)
    : error("fiberpool: " + what_happened + ": " + reason), code_(errno_value, std::generic_category()) {}

namespace io {
namespace {

using hub::direction;
using hub::io_poller;

std::optional<clock::time_point> deadline_after(std::optional<clock::duration> d) {
  if (!d) return std::nullopt;
  return clock::now() + *d;
}

void set_nonblocking(int fd) {
  int flags = ::fcntl(fd, F_GETFL);
  if (flags < 0 || ::fcntl(fd, F_SETFL, flags | O_NONBLOCK) < 0) throw io_error(errno, "making fd non-blocking");
}

void set_nodelay(int fd) noexcept {
  int one = 1;
  ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);  // fails harmlessly on non-TCP fds
}

// resolve: addresses for host:port. Names other than literals may need DNS, a blocking call:
// offloaded when called on a runtime.
struct addrinfo_deleter {
  void operator()(addrinfo* a) const noexcept { ::freeaddrinfo(a); }
};
using addresses = std::unique_ptr<addrinfo, addrinfo_deleter>;

std::pair<int, addresses> lookup(const std::string& host, const std::string& service, bool passive, int flags) {
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = flags | AI_NUMERICSERV | (passive ? AI_PASSIVE : 0);
  addrinfo* out = nullptr;
  int rc = ::getaddrinfo(host.empty() ? nullptr : host.c_str(), service.c_str(), &hints, &out);
  return {rc, addresses(out)};
}

addresses resolve(std::string_view host, std::uint16_t port, bool passive) {
  std::string h(host), service = std::to_string(port);
  auto [rc, out] = lookup(h, service, passive, AI_NUMERICHOST);  // a literal: no DNS, never blocks
  if (rc == EAI_NONAME) {
    // A name: DNS may block for seconds, so a helper thread asks. The call owns its strings, as a
    // killed job leaves it behind.
    std::tie(rc, out) = offload([h, service, passive] { return lookup(h, service, passive, AI_ADDRCONFIG); });
  }
  if (rc != 0) {
    // errno means something only with EAI_SYSTEM; otherwise the resolver's own words say it all,
    // and errno is whatever an earlier call left there.
    if (rc == EAI_SYSTEM) throw io_error(errno, "cannot resolve '" + h + "'");
    throw io_error(EHOSTUNREACH, "cannot resolve '" + h + "'", ::gai_strerror(rc));
  }
  return std::move(out);
}

std::string describe(std::string_view host, std::uint16_t port) {
  return std::string(host) + ":" + std::to_string(port);
}

// format_address: "127.0.0.1:53422", "[::1]:8080".
std::string format_address(const sockaddr_storage& addr) {
  char host[INET6_ADDRSTRLEN] = {};
  if (addr.ss_family == AF_INET) {
    const auto& a = reinterpret_cast<const sockaddr_in&>(addr);
    ::inet_ntop(AF_INET, &a.sin_addr, host, sizeof host);
    return std::string(host) + ":" + std::to_string(ntohs(a.sin_port));
  }
  if (addr.ss_family == AF_INET6) {
    const auto& a = reinterpret_cast<const sockaddr_in6&>(addr);
    ::inet_ntop(AF_INET6, &a.sin6_addr, host, sizeof host);
    return "[" + std::string(host) + "]:" + std::to_string(ntohs(a.sin6_port));
  }
  return "(address family " + std::to_string(addr.ss_family) + ")";
}

}  // namespace

// --- tcp_stream ---

tcp_stream::tcp_stream(int fd) : fd_(fd) {
  if (fd < 0) throw std::invalid_argument("fiberpool: tcp_stream needs an open socket");
  set_nonblocking(fd);
  set_nodelay(fd);
}

tcp_stream::tcp_stream(tcp_stream&& o) noexcept
    : fd_(std::exchange(o.fd_, -1)),
      timeout_(o.timeout_),
      registration_(std::exchange(o.registration_, 0)),
      poller_(std::move(o.poller_)) {}

tcp_stream& tcp_stream::operator=(tcp_stream&& o) noexcept {
  if (this != &o) {
    close();
    fd_ = std::exchange(o.fd_, -1);
    timeout_ = o.timeout_;
    registration_ = std::exchange(o.registration_, 0);
    poller_ = std::move(o.poller_);
  }
  return *this;
}

tcp_stream::~tcp_stream() { close(); }

void tcp_stream::close() noexcept {
  if (fd_ < 0) return;
  // Unregister first: a fiber of ours still waiting on it wakes with EBADF, not a reused fd.
  hub::unregister(fd_, registration_, poller_);
  ::close(std::exchange(fd_, -1));
}

void tcp_stream::shutdown_write() {
  if (fd_ < 0) throw io_error(EBADF, "shutdown_write() on a closed tcp_stream");
  if (::shutdown(fd_, SHUT_WR) != 0) throw io_error(errno, "shutting down the write side of fd " + std::to_string(fd_));
}


std::size_t tcp_stream::read_some(std::span<std::byte> buf) {
  if (fd_ < 0) throw io_error(EBADF, "read_some() on a closed tcp_stream");
  detail::raise_cancellation();
  auto deadline = deadline_after(timeout_);
  for (;;) {
    ssize_t n = ::recv(fd_, buf.data(), buf.size(), 0);
    if (n >= 0) return static_cast<std::size_t>(n);
    if (errno == EINTR) continue;
    if (errno != EAGAIN && errno != EWOULDBLOCK) throw io_error(errno, "reading from fd " + std::to_string(fd_));
    hub::wait_persistent(fd_, registration_, poller_, direction::read, deadline, "reading");
  }
}

void tcp_stream::read_exact(std::span<std::byte> buf) {
  if (fd_ < 0) throw io_error(EBADF, "read_exact() on a closed tcp_stream");
  detail::raise_cancellation();
  auto deadline = deadline_after(timeout_);  // one limit for the whole call, as write_all
  const std::size_t wanted = buf.size();
  while (!buf.empty()) {
    ssize_t n = ::recv(fd_, buf.data(), buf.size(), 0);
    if (n > 0) {
      buf = buf.subspan(static_cast<std::size_t>(n));
      continue;
    }
    if (n == 0)
      throw end_of_stream("fiberpool: the peer of fd " + std::to_string(fd_) + " closed the connection after " +
                          std::to_string(wanted - buf.size()) + " of the " + std::to_string(wanted) +
                          " bytes read_exact() wanted");
    if (errno == EINTR) continue;
    if (errno != EAGAIN && errno != EWOULDBLOCK) throw io_error(errno, "reading from fd " + std::to_string(fd_));
    hub::wait_persistent(fd_, registration_, poller_, direction::read, deadline, "reading");
  }
}

std::string tcp_stream::remote_address() const {
  if (fd_ < 0) throw io_error(EBADF, "remote_address() of a closed tcp_stream");
  sockaddr_storage addr{};
  socklen_t len = sizeof addr;
  if (::getpeername(fd_, reinterpret_cast<sockaddr*>(&addr), &len) != 0)
    throw io_error(errno, "reading the remote address of fd " + std::to_string(fd_));
  return format_address(addr);
}

void tcp_stream::write_all(std::span<const std::byte> data) {
  if (fd_ < 0) throw io_error(EBADF, "write_all() on a closed tcp_stream");
  detail::raise_cancellation();
  auto deadline = deadline_after(timeout_);
  while (!data.empty()) {
    // MSG_NOSIGNAL: a peer that went away is an EPIPE error here, never a SIGPIPE for the process.
    ssize_t n = ::send(fd_, data.data(), data.size(), MSG_NOSIGNAL);
    if (n >= 0) {
      data = data.subspan(static_cast<std::size_t>(n));
      continue;
    }
    if (errno == EINTR) continue;
    if (errno != EAGAIN && errno != EWOULDBLOCK) throw io_error(errno, "writing to fd " + std::to_string(fd_));
    hub::wait_persistent(fd_, registration_, poller_, direction::write, deadline, "writing");
  }
}

tcp_stream tcp_stream::connect(std::string_view host, std::uint16_t port, std::optional<clock::duration> timeout) {
  auto deadline = deadline_after(timeout);
  addresses addrs = resolve(host, port, false);
  int last_error = ECONNREFUSED;
  for (addrinfo* a = addrs.get(); a; a = a->ai_next) {
    int fd = ::socket(a->ai_family, a->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, a->ai_protocol);
    if (fd < 0) {
      last_error = errno;
      continue;
    }
    tcp_stream s(fd);
    if (::connect(fd, a->ai_addr, a->ai_addrlen) == 0) return s;
    if (errno != EINPROGRESS && errno != EINTR) {
      last_error = errno;
      continue;
    }
    // The connection completes in the background: writable means done, SO_ERROR says how.
    hub::wait_persistent(s.fd_, s.registration_, s.poller_, direction::write, deadline, "connecting");
    int err = 0;
    socklen_t len = sizeof err;
    if (::getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0) err = errno;
    if (err == 0) return s;
    last_error = err;
  }
  throw io_error(last_error, "connecting to " + describe(host, port));
}

// --- tcp_listener ---

tcp_listener::tcp_listener(tcp_listener&& o) noexcept : stream_(std::move(o.stream_)) {}
tcp_listener& tcp_listener::operator=(tcp_listener&& o) noexcept {
  stream_ = std::move(o.stream_);
  return *this;
}
tcp_listener::~tcp_listener() = default;
void tcp_listener::close() noexcept { stream_.close(); }

tcp_listener tcp_listener::bind(std::string_view host, std::uint16_t port, int backlog) {
  addresses addrs = resolve(host, port, true);
  int last_error = EADDRNOTAVAIL;
  for (addrinfo* a = addrs.get(); a; a = a->ai_next) {
    int fd = ::socket(a->ai_family, a->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, a->ai_protocol);
    if (fd < 0) {
      last_error = errno;
      continue;
    }
    int one = 1;
    ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (::bind(fd, a->ai_addr, a->ai_addrlen) != 0 || ::listen(fd, backlog) != 0) {
      last_error = errno;
      ::close(fd);
      continue;
    }
    tcp_listener l;
    l.stream_.fd_ = fd;
    return l;
  }
  throw io_error(last_error, "listening on " + describe(host, port));
}

std::uint16_t tcp_listener::port() const {
  sockaddr_storage addr{};
  socklen_t len = sizeof addr;
  if (::getsockname(stream_.fd_, reinterpret_cast<sockaddr*>(&addr), &len) != 0)
    throw io_error(errno, "reading the port of a tcp_listener");
  if (addr.ss_family == AF_INET6) return ntohs(reinterpret_cast<sockaddr_in6*>(&addr)->sin6_port);
  return ntohs(reinterpret_cast<sockaddr_in*>(&addr)->sin_port);
}

tcp_stream tcp_listener::accept() {
  if (stream_.fd_ < 0) throw io_error(EBADF, "accept() on a closed tcp_listener");
  detail::raise_cancellation();
  constexpr auto backoff = std::chrono::milliseconds(100);
  for (;;) {
    int fd = ::accept4(stream_.fd_, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd >= 0) {
      set_nodelay(fd);
      tcp_stream s;
      s.fd_ = fd;
      return s;
    }
    switch (errno) {
      case EINTR:
      case ECONNABORTED:  // the peer gave up before we accepted: take the next one
      // Linux passes a pending connection's network error to accept() (accept(2), "Error
      // handling"): that connection is lost, the listener is fine. (Not EOPNOTSUPP, also listed
      // there: on our SOCK_STREAM listener it would mean a broken listener, and retrying would spin.)
      case EPROTO:
      case ENOPROTOOPT:
      case ENETDOWN:
      case ENETUNREACH:
      case EHOSTDOWN:
      case EHOSTUNREACH:
      case ENONET:
        continue;
      case EAGAIN:
        hub::wait_persistent(stream_.fd_, stream_.registration_, stream_.poller_, direction::read, std::nullopt, "accepting");
        continue;
      case EMFILE:
      case ENFILE:
      case ENOBUFS:
      case ENOMEM: {
        // Out of descriptors or memory: the pending connection stays in the backlog. Keep serving
        // the connections we have, and try again shortly (a cancellable sleep).
        int err = errno;
        SPDLOG_LOGGER_WARN(fiberpool::logger(), "fiberpool: accept() on fd {}: {}; retrying in {} ms",
                           stream_.fd_, std::strerror(err), backoff.count());
        detail::parker p;
        if (detail::park_cancellable(p, clock::now() + backoff, {"accept back-off"}) == detail::wait_status::cancelled)
          detail::raise_cancellation();
        continue;
      }
      default:
        throw io_error(errno, "accepting on fd " + std::to_string(stream_.fd_));
    }
  }
}

}  // namespace io
}  // namespace fiberpool
