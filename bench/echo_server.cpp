// echo_server: fiberpool's echo server for bench/compare: a task_pool, one job per connection.
//
//     bench-echo_server [--threads T] [--port P]
//
// Listens on 127.0.0.1 (port 0: any free one), prints "port N", and serves until stdin closes,
// as the Go and eventlet servers beside it do; bench/compare points the shared load client at it.
#include <sys/resource.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <span>
#include <string_view>

#include <fiberpool/fiberpool.hpp>

namespace {

// echo: one connection's job: read what is there, write it back, until the client closes.
void echo(fiberpool::io::tcp_stream& conn) {
  std::array<std::byte, 4096> buf;  // 4 KiB reads, as the Go and eventlet servers
  for (;;) {
    std::size_t n = conn.read_some(buf);
    if (n == 0) return;
    conn.write_all(std::span<const std::byte>(buf.data(), n));
  }
}

// accept_loop: the acceptor job; each connection becomes a job of the same pool. A connection
// the client resets ends its job failed, which the pool counts and the server shrugs off.
void accept_loop(fiberpool::task_pool& pool, fiberpool::io::tcp_listener& listener) {
  for (;;) pool.apply([c = listener.accept()]() mutable { echo(c); });
}

void raise_fd_limit() {
  rlimit rl{};
  if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
    rl.rlim_cur = rl.rlim_max;
    setrlimit(RLIMIT_NOFILE, &rl);
  }
}

[[noreturn]] void usage(const char* program) {
  std::fprintf(stderr, "usage: %s [--threads T] [--port P]\n", program);
  std::exit(2);
}

}  // namespace

int main(int argc, char** argv) {
  std::size_t threads = 1;
  unsigned port = 0;
  for (int i = 1; i < argc; ++i) {
    std::string_view arg = argv[i];
    if (i + 1 == argc) usage(argv[0]);
    if (arg == "--threads") threads = std::strtoul(argv[++i], nullptr, 10);
    else if (arg == "--port") port = static_cast<unsigned>(std::strtoul(argv[++i], nullptr, 10));
    else usage(argv[0]);
  }
  raise_fd_limit();

  // Before the pool: its jobs use the listener, and the pool's destructor waits for them.
  auto listener = fiberpool::io::tcp_listener::bind("127.0.0.1", static_cast<std::uint16_t>(port), 4096);
  fiberpool::pool_options opts;
  opts.name = "echo";
  opts.threads = threads;
  opts.limit = 1'000'000;  // no connection ever waits for a slot
  fiberpool::task_pool pool(opts);
  pool.start();
  pool.apply([&] { accept_loop(pool, listener); });
  std::printf("port %u\n", static_cast<unsigned>(listener.port()));
  std::fflush(stdout);

  // The main thread waits for stdin to close, then kills every job: the acceptor and any
  // connection still open unwind out of their waits.
  std::array<char, 256> sink;
  for (ssize_t n = 1; n > 0 || (n < 0 && errno == EINTR);) n = read(STDIN_FILENO, sink.data(), sink.size());
  pool.terminate();
  // While the pool's runtime is alive: the listener is registered with its I/O poller.
  listener.close();
  return 0;
}
