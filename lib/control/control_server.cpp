// control_server: a Unix socket (mode 0600) whose peers are checked by SO_PEERCRED before a byte is
// read, and whose connections are jobs reading one JSON request per line (commands.cpp).
#include <fiberpool/control.hpp>

#include <algorithm>
#include <array>
#include <atomic>
#include <cerrno>
#include <cstring>
#include <stdexcept>
#include <string>
#include <utility>

#include <spdlog/fmt/ranges.h>
#include <spdlog/spdlog.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <fiberpool/errors.hpp>
#include <fiberpool/io.hpp>
#include <fiberpool/log.hpp>
#include <fiberpool/task_pool.hpp>

#include "control/commands.hpp"

namespace fiberpool {
namespace {

sockaddr_un address_of(const std::string& path) {
  sockaddr_un a{};
  a.sun_family = AF_UNIX;
  if (path.empty() || path.size() >= sizeof a.sun_path)
    throw std::invalid_argument("fiberpool: control_options::path must be a file path of 1 to " +
                                std::to_string(sizeof a.sun_path - 1) + " bytes");
  std::memcpy(a.sun_path, path.data(), path.size());
  return a;
}

// clear_stale_socket: an existing socket file nobody listens on (a crashed server's) is removed;
// a live one, or a file that is no socket, is an error: we never take over another's path.
void clear_stale_socket(const std::string& path, const sockaddr_un& a) {
  struct stat st;
  if (::lstat(path.c_str(), &st) != 0) return;
  if (!S_ISSOCK(st.st_mode))
    throw io_error(EEXIST, "making the control socket " + path, "a file that is not a socket is there; choose another path");
  int probe = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (probe < 0) throw io_error(errno, "making the control socket " + path);
  const bool live = ::connect(probe, reinterpret_cast<const sockaddr*>(&a), sizeof a) == 0;
  ::close(probe);
  if (live)
    throw io_error(EADDRINUSE, "making the control socket " + path,
                   "another process serves on it; stop it, or choose another path");
  ::unlink(path.c_str());
}

int listen_on(const std::string& path) {
  const sockaddr_un a = address_of(path);
  clear_stale_socket(path, a);
  int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) throw io_error(errno, "making the control socket " + path);
  // Mode 0600 from the start: bind() creates the file with the umask's mode, so a chmod() after it
  // would leave a window; fchmod() on the unbound socket sets the mode the file is made with.
  if (::fchmod(fd, S_IRUSR | S_IWUSR) != 0 || ::bind(fd, reinterpret_cast<const sockaddr*>(&a), sizeof a) != 0 ||
      ::chmod(path.c_str(), S_IRUSR | S_IWUSR) != 0 || ::listen(fd, 64) != 0) {
    int err = errno;
    ::close(fd);
    throw io_error(err, "making the control socket " + path);
  }
  return fd;
}

}  // namespace

struct control_server::state {
  state(runtime& rt, control_options o) : opts(std::move(o)), pool(rt, pool_opts(opts)) {
    if (opts.allowed_uids.empty()) opts.allowed_uids.push_back(::getuid());
    listen_fd = listen_on(opts.path);
    pool.start();
    job_options named;
    named.name = "control acceptor " + opts.path;
    acceptor = pool.apply(std::move(named), [this] { accept_loop(); });
  }
  ~state() {
    pool.terminate();  // the acceptor and every connection unwind at their waits
    ::close(listen_fd);
    ::unlink(opts.path.c_str());
  }

  static pool_options pool_opts(const control_options& o) {
    if (o.max_line_bytes < 64) throw std::invalid_argument("fiberpool: control_options::max_line_bytes must be at least 64");
    if (o.idle_timeout <= std::chrono::milliseconds::zero())
      throw std::invalid_argument("fiberpool: control_options::idle_timeout must be positive");
    if (o.max_requests_per_second == 0)
      throw std::invalid_argument("fiberpool: control_options::max_requests_per_second must be at least 1");
    pool_options p;
    p.name = "fiberpool-control";
    p.limit = std::max<std::size_t>(1, o.max_connections) + 1;  // + the acceptor
    p.log_failures = false;
    return p;
  }

  void accept_loop();
  void serve(int fd);
  bool peer_allowed(int fd);

  control_options opts;
  task_pool pool;
  int listen_fd = -1;
  job<void> acceptor;
  std::atomic<std::size_t> refused{0};
};

bool control_server::state::peer_allowed(int fd) {
  ucred cred{};
  socklen_t len = sizeof cred;
  if (::getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) != 0) return false;
  if (std::find(opts.allowed_uids.begin(), opts.allowed_uids.end(), cred.uid) != opts.allowed_uids.end()) return true;
  refused.fetch_add(1, std::memory_order_relaxed);
  SPDLOG_LOGGER_WARN(fiberpool::logger(), "fiberpool: control socket {}: refused a peer of uid {} (pid {}); "
                     "allowed uids: {}", opts.path, cred.uid, cred.pid, fmt::join(opts.allowed_uids, ", "));
  return false;
}

void control_server::state::accept_loop() {
  io::fd_watch watch(listen_fd);
  for (;;) {
    watch.wait_readable();
    for (;;) {
      int fd = ::accept4(listen_fd, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
      if (fd < 0) {
        if (errno == EINTR || errno == ECONNABORTED) continue;
        break;  // EAGAIN, or out of descriptors: wait for the next readiness
      }
      // Refused before a byte is read or written: nothing of the peer's is ever parsed.
      if (!peer_allowed(fd)) {
        ::close(fd);
        continue;
      }
      try {
        job_options named;
        named.name = "control connection";
        pool.apply(std::move(named), [this, fd] { serve(fd); });
      } catch (const std::exception&) {
        ::close(fd);  // the pool is shutting down
      }
    }
  }
}

void control_server::state::serve(int fd) {
  io::tcp_stream conn(fd);  // any connected stream socket: owns and closes fd
  conn.set_timeout(opts.idle_timeout);
  std::string pending;
  std::array<char, 4096> chunk;
  // A token bucket per connection: max_requests_per_second, in bursts of as many.
  const double rate = static_cast<double>(opts.max_requests_per_second);
  double tokens = rate;
  auto refilled = clock::now();
  auto reply = [&](const std::string& text) {
    std::string line = text;
    line += '\n';
    conn.write_all(std::as_bytes(std::span(line.data(), line.size())));
  };
  for (;;) {
    std::size_t eol;
    while ((eol = pending.find('\n')) == std::string::npos) {
      if (pending.size() > opts.max_line_bytes) {
        reply(R"({"ok":false,"error":"request line too long (max )" + std::to_string(opts.max_line_bytes) +
              R"( bytes); connection closed"})");
        return;
      }
      std::size_t n;
      try {
        n = conn.read_some(std::as_writable_bytes(std::span(chunk)));
      } catch (const timed_out&) {
        return;  // idle past idle_timeout: the slot goes to someone who talks
      }
      if (n == 0) return;
      pending.append(chunk.data(), n);
    }
    if (eol > opts.max_line_bytes) {
      reply(R"({"ok":false,"error":"request line too long (max )" + std::to_string(opts.max_line_bytes) +
            R"( bytes); connection closed"})");
      return;
    }
    std::string line = pending.substr(0, eol);
    pending.erase(0, eol + 1);
    if (!line.empty() && line.back() == '\r') line.pop_back();
    const auto now = clock::now();
    tokens = std::min(rate, tokens + rate * std::chrono::duration<double>(now - refilled).count());
    refilled = now;
    if (tokens < 1.0) {
      reply(R"({"ok":false,"error":"too many requests: at most )" + std::to_string(opts.max_requests_per_second) +
            R"( per second"})");
      continue;
    }
    tokens -= 1.0;
    reply(control::execute(line, opts.read_only));
  }
}

control_server::control_server(runtime& rt, control_options opts)
    : state_(std::make_unique<state>(rt, std::move(opts))) {}

control_server::~control_server() = default;

const std::string& control_server::path() const noexcept { return state_->opts.path; }

std::size_t control_server::refused_peers() const noexcept { return state_->refused.load(std::memory_order_relaxed); }

}  // namespace fiberpool
