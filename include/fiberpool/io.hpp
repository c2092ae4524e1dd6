// io: fiber-aware waits on file descriptors, TCP sockets, and offload() of blocking calls.
#pragma once

#include <cstddef>
#include <cstdint>
#include <exception>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <system_error>
#include <type_traits>
#include <utility>

#include <fiberpool/errors.hpp>
#include <fiberpool/types.hpp>

namespace fiberpool {

// A failed system call on a socket or file descriptor. code() holds the errno value (generic
// category), so callers can tell ECONNREFUSED from ECONNRESET; what() says what was being done.
// A host name that does not resolve is an io_error too: code() EHOSTUNREACH, and what() ends with
// the resolver's own reason ("fiberpool: cannot resolve 'x.invalid': Name or service not known").
class io_error : public error {
 public:
  // io_error: "fiberpool: <what_happened>: <strerror(errno_value)>".
  io_error(int errno_value, const std::string& what_happened);
  // io_error: "fiberpool: <what_happened>: <reason>", for a reason errno does not describe.
  io_error(int errno_value, const std::string& what_happened, const std::string& reason);
  std::error_code code() const noexcept { return code_; }

 private:
  std::error_code code_;
};

namespace io {

// io::serve() and io::server, a server whose connections are jobs of a task_pool, are in
// <fiberpool/serve.hpp>: they need a task_pool, a layer above this header.

// wait_readable / wait_writable: suspend the calling fiber until fd is readable (writable), the
// deadline passes (timed_out), or the job is killed (a cancellation point). On a thread that is
// not a runtime's, they block the thread in poll(2) instead. An fd may have one waiter per
// direction at a time.
void wait_readable(int fd, std::optional<clock::time_point> deadline = {});
void wait_writable(int fd, std::optional<clock::time_point> deadline = {});

// fd_watch: a bare fd (a pipe, a Unix socket, an eventfd, a pidfd) kept registered with the
// runtime's poller between waits. wait_readable() / wait_writable() above register the fd and
// remove it again around every wait, two epoll_ctl calls each time; a loop that waits on the same
// fd over and over (a socket's reader) holds an fd_watch instead. It does not own the fd: destroy
// the watch before closing it. As above, one waiter per direction at a time; outside a runtime's
// fiber the waits block the thread in poll(2).
class fd_watch {
 public:
  explicit fd_watch(int fd);  // registers on the first wait; std::invalid_argument for fd < 0
  fd_watch(fd_watch&& other) noexcept;
  fd_watch& operator=(fd_watch&& other) noexcept;
  ~fd_watch();                // unregisters; a fiber still waiting wakes with io_error (EBADF)

  void wait_readable(std::optional<clock::time_point> deadline = {});
  void wait_writable(std::optional<clock::time_point> deadline = {});
  int fd() const noexcept { return fd_; }

 private:
  void release() noexcept;
  int fd_ = -1;
  std::uint64_t registration_ = 0;  // the poller's token (0: not registered yet)
  std::shared_ptr<void> poller_;    // the poller it is registered with, kept alive by us
};

class tcp_listener;

// A connected TCP socket: non-blocking underneath, TCP_NODELAY, and writes that never raise
// SIGPIPE. Move-only; closes on destruction. Reads and writes suspend only the calling fiber.
class tcp_stream {
 public:
  tcp_stream() noexcept = default;
  // adopt: takes ownership of a connected socket (made non-blocking here).
  explicit tcp_stream(int fd);
  tcp_stream(tcp_stream&& other) noexcept;
  tcp_stream& operator=(tcp_stream&& other) noexcept;
  ~tcp_stream();

  // connect: to host (a name or an IPv4/IPv6 literal) and port. Throws io_error (refused,
  // unreachable, name not found) or timed_out when `timeout` passes first.
  static tcp_stream connect(std::string_view host, std::uint16_t port,
                            std::optional<clock::duration> timeout = {});

  // read_some: waits for data and reads what is there, at most buf.size() bytes; 0 at end of
  // stream. Throws io_error (a reset connection) or timed_out (set_timeout).
  std::size_t read_some(std::span<std::byte> buf);
  // read_exact: fills the whole of buf, over as many reads as it takes. Throws end_of_stream if
  // the peer closes first, io_error, or timed_out once set_timeout's limit passes for the call as
  // a whole (as write_all). After a throw, what arrived is in buf's front but the count is lost:
  // treat the stream as broken.
  void read_exact(std::span<std::byte> buf);
  // write_all: writes every byte, waiting for room as needed.
  void write_all(std::span<const std::byte> data);
  // remote_address: the peer's address, "127.0.0.1:53422" or "[::1]:8080". Throws io_error on a
  // closed stream or one whose peer has gone (ENOTCONN).
  std::string remote_address() const;
  // set_timeout: limit for each later read_some / read_exact / write_all call; nullopt: none.
  void set_timeout(std::optional<clock::duration> t) noexcept { timeout_ = t; }
  void shutdown_write();
  void close() noexcept;
  bool is_open() const noexcept { return fd_ >= 0; }
  int native_handle() const noexcept { return fd_; }

 private:
  friend class tcp_listener;
  int fd_ = -1;
  std::optional<clock::duration> timeout_;
  std::uint64_t registration_ = 0;  // the io poller's token for fd_ (0: not registered)
  std::shared_ptr<void> poller_;    // the poller fd_ is registered with; kept alive by us, so a
                                    // stream may outlive the runtime it was used on
};

class tcp_listener {
 public:
  tcp_listener() noexcept = default;
  tcp_listener(tcp_listener&& other) noexcept;
  tcp_listener& operator=(tcp_listener&& other) noexcept;
  ~tcp_listener();

  // bind: listens on host ("0.0.0.0", "::", "127.0.0.1", a name) and port (0: any free port),
  // with SO_REUSEADDR. Throws io_error.
  static tcp_listener bind(std::string_view host, std::uint16_t port, int backlog = 1024);
  std::uint16_t port() const;
  // accept: waits for the next connection. When the process runs out of file descriptors
  // (EMFILE/ENFILE) it logs, backs off and keeps trying rather than failing the server; a
  // connection that failed before it was taken (ECONNABORTED, a network error Linux reports
  // through accept) is skipped.
  tcp_stream accept();
  void close() noexcept;
  bool is_open() const noexcept { return stream_.is_open(); }
  int native_handle() const noexcept { return stream_.native_handle(); }

 private:
  tcp_stream stream_;  // the listening socket, registered with the poller like a stream
};

}  // namespace io

namespace detail {

// One offloaded call, shared between the waiting fiber and the helper thread: the helper may
// finish after the fiber has gone (a killed job), so neither owns it alone.
struct offload_call {
  virtual ~offload_call() = default;
  virtual void run() noexcept = 0;  // on the helper thread; stores the result or the exception
};

// offload_and_wait: queues `call` on the calling runtime's helper threads and waits for it
// (a cancellation point). Outside a runtime it runs the call on the calling thread.
void offload_and_wait(const std::shared_ptr<offload_call>& call);

template <class R, class F>
struct offload_task final : offload_call {
  explicit offload_task(F&& f) : fn(std::forward<F>(f)) {}
  void run() noexcept override {
    try {
      if constexpr (std::is_void_v<R>) {
        fn();
        value.emplace(true);
      } else {
        value.emplace(fn());
      }
    } catch (...) {
      error = std::current_exception();
    }
  }
  std::decay_t<F> fn;
  std::optional<std::conditional_t<std::is_void_v<R>, bool, R>> value;
  std::exception_ptr error;
};

}  // namespace detail

// offload: runs a blocking call (a C library, DNS, a file) on one of the runtime's helper threads
// (runtime_options::offload_threads) while the calling fiber waits; returns its result or
// rethrows its exception. A cancellation point: a killed job unwinds at once, and the helper's
// call finishes on its own (its result is dropped), so fn must own what it uses.
template <class F>
auto offload(F&& fn) -> std::invoke_result_t<F> {
  using R = std::invoke_result_t<F>;
  static_assert(!std::is_reference_v<R>, "fiberpool::offload: return a value, not a reference");
  auto call = std::make_shared<detail::offload_task<R, F>>(std::forward<F>(fn));
  detail::offload_and_wait(call);
  if (call->error) std::rethrow_exception(call->error);
  if constexpr (!std::is_void_v<R>) return std::move(*call->value);
}

}  // namespace fiberpool
