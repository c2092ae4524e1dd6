// I/O: fd waits, TCP streams and listeners, their error cases, kills while blocked, offload.
#include <array>
#include <atomic>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <future>
#include <string>
#include <thread>
#include <vector>

#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <fiberpool/io.hpp>

#include "support.hpp"

using namespace fiberpool;
using namespace fiberpool_test;

namespace {

std::span<const std::byte> bytes(const std::string& s) { return std::as_bytes(std::span(s.data(), s.size())); }

// read_exactly: reads n bytes (or to end of stream) into a string.
std::string read_exactly(io::tcp_stream& s, std::size_t n) {
  std::string out;
  std::array<std::byte, 256> buf;
  while (out.size() < n) {
    std::size_t got = s.read_some(std::span(buf).first(std::min(buf.size(), n - out.size())));
    if (got == 0) break;
    out.append(reinterpret_cast<const char*>(buf.data()), got);
  }
  return out;
}

// A pipe whose ends close on destruction.
struct pipe_pair {
  int r = -1, w = -1;
  pipe_pair() {
    int fds[2];
    REQUIRE(::pipe2(fds, O_NONBLOCK | O_CLOEXEC) == 0);
    r = fds[0];
    w = fds[1];
  }
  ~pipe_pair() {
    ::close(r);
    ::close(w);
  }
};

// echo_server: a job that accepts `n` connections and echoes each on a job of its own.
job<void> echo_server(task_pool& pool, io::tcp_listener& l, int n) {
  return pool.apply([&pool, &l, n] {
    for (int i = 0; i < n; ++i) {
      pool.apply([s = std::make_shared<io::tcp_stream>(l.accept())] {
        std::array<std::byte, 512> buf;
        while (std::size_t got = s->read_some(buf)) s->write_all(std::span(buf).first(got));
      });
    }
  });
}

}  // namespace

TEST_CASE("a TCP echo round trip between jobs, IPv4 and IPv6") {
  with_threads([](std::size_t threads) {
    for (const char* host : {"127.0.0.1", "::1"}) {
      CAPTURE(host);
      io::tcp_listener l;
      try {
        l = io::tcp_listener::bind(host, 0);
      } catch (const io_error& e) {
        MESSAGE("skipped, no ", host, " here: ", e.what());
        continue;
      }
      REQUIRE(l.port() != 0);
      task_pool pool(pool_opts(threads));
      pool.start();
      auto server = echo_server(pool, l, 3);
      std::vector<job<std::string>> clients;
      for (int c = 0; c < 3; ++c) {
        clients.push_back(pool.apply([&, c] {
          auto s = io::tcp_stream::connect(host, l.port());
          std::string got;
          for (int round = 0; round < 20; ++round) {
            std::string msg = "client " + std::to_string(c) + " round " + std::to_string(round) + "\n";
            s.write_all(bytes(msg));
            got += read_exactly(s, msg.size());
          }
          s.shutdown_write();
          std::array<std::byte, 16> tail;
          CHECK(s.read_some(tail) == 0);  // the server closes after our end of stream
          return got;
        }));
      }
      for (int c = 0; c < 3; ++c) {
        std::string got = clients[c].get();
        CHECK(got.size() > 0);
        CHECK(got.find("client " + std::to_string(c) + " round 19\n") != std::string::npos);
        CHECK(got.find("client " + std::to_string((c + 1) % 3)) == std::string::npos);
      }
      server.get();
      pool.stop();
    }
  });
}

TEST_CASE("connecting to a port nobody listens on fails fast with ECONNREFUSED") {
  with_threads([](std::size_t threads) {
    std::uint16_t port;
    {
      auto l = io::tcp_listener::bind("127.0.0.1", 0);
      port = l.port();
    }  // closed: nothing listens there now
    task_pool pool(pool_opts(threads));
    pool.start();
    auto j = pool.apply([port] {
      try {
        io::tcp_stream::connect("127.0.0.1", port);
      } catch (const io_error& e) {
        CHECK(std::string(e.what()).find("connecting to 127.0.0.1:") != std::string::npos);
        return e.code().value();
      }
      return 0;
    });
    CHECK(j.get() == ECONNREFUSED);
    pool.stop();
  });
}

TEST_CASE("a name that does not resolve says what failed, and only that") {
  // A name under .invalid never resolves (RFC 6761). The resolver's own reason is what the
  // message must end with; errno, which the failed lookup leaves stale, must not be appended.
  addrinfo hints{};
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* out = nullptr;
  int rc = ::getaddrinfo("nohost.invalid", "80", &hints, &out);
  if (out) ::freeaddrinfo(out);
  REQUIRE(rc != 0);
  if (rc == EAI_SYSTEM) {
    MESSAGE("skipped: this machine's resolver fails with a system error, not a resolver answer");
    return;
  }
  const std::string expected = std::string("fiberpool: cannot resolve 'nohost.invalid': ") + ::gai_strerror(rc);
  auto message_of = [](auto connect) {
    try {
      connect();
    } catch (const io_error& e) {
      CHECK(e.code().value() == EHOSTUNREACH);
      return std::string(e.what());
    }
    return std::string("(no error)");
  };
  // On a plain thread (resolved here) and in a job (resolved on an offload helper thread).
  errno = EHOSTUNREACH;  // the stale value the old message appended
  CHECK(message_of([] { io::tcp_stream::connect("nohost.invalid", 80); }) == expected);
  CHECK(message_of([] { io::tcp_listener::bind("nohost.invalid", 0); }) == expected);
  with_threads([&](std::size_t threads) {
    task_pool pool(pool_opts(threads));
    pool.start();
    auto j = pool.apply([&] { return message_of([] { io::tcp_stream::connect("nohost.invalid", 80, 10s); }); });
    CHECK(j.get() == expected);
    pool.stop();
  });
}

TEST_CASE("read_exact fills the buffer over several writes; end_of_stream and timed_out say why") {
  with_threads([](std::size_t threads) {
    auto l = io::tcp_listener::bind("127.0.0.1", 0);
    task_pool pool(pool_opts(threads));
    pool.start();
    event go, never;
    auto writer = pool.apply([&] {
      auto s = l.accept();
      s.write_all(bytes("hello "));
      never.wait_for(20ms);  // a fiber sleep: the reader gets the first half alone and must wait on
      s.write_all(bytes("world!"));
      go.wait();
      s.write_all(bytes("abc"));  // 3 of the 5 bytes the next read_exact wants, then the end
      s.shutdown_write();
    });
    auto reader = pool.apply([&] {
      auto s = io::tcp_stream::connect("127.0.0.1", l.port());
      std::array<std::byte, 12> twelve;
      s.read_exact(twelve);
      CHECK(std::string(reinterpret_cast<const char*>(twelve.data()), twelve.size()) == "hello world!");
      go.set();
      std::array<std::byte, 5> five;
      try {
        s.read_exact(five);
      } catch (const end_of_stream& e) {
        return std::string(e.what());
      }
      return std::string("(no end_of_stream)");
    });
    CHECK(reader.get().find("closed the connection after 3 of the 5 bytes") != std::string::npos);
    writer.get();

    // timed_out: nothing comes within the stream's timeout.
    event release;
    auto silent = pool.apply([&] {
      auto s = l.accept();
      release.wait();
    });
    auto waiter = pool.apply([&] {
      auto s = io::tcp_stream::connect("127.0.0.1", l.port());
      s.set_timeout(30ms);
      std::array<std::byte, 4> buf;
      s.read_exact(buf);
    });
    CHECK_THROWS_AS(waiter.get(), timed_out);
    release.set();
    silent.get();
    CHECK_THROWS_AS(io::tcp_stream().read_exact(std::span<std::byte>()), io_error);
    pool.stop();
  });
}

TEST_CASE("remote_address: the peer as host:port, IPv6 in brackets") {
  for (const char* host : {"127.0.0.1", "::1"}) {
    CAPTURE(host);
    io::tcp_listener l;
    try {
      l = io::tcp_listener::bind(host, 0);
    } catch (const io_error& e) {
      MESSAGE("skipped, no ", host, " here: ", e.what());
      continue;
    }
    // On a plain thread: both ends block in poll.
    auto client = io::tcp_stream::connect(host, l.port(), patience);
    auto accepted = l.accept();
    sockaddr_storage local{};
    socklen_t len = sizeof local;
    REQUIRE(::getsockname(client.native_handle(), reinterpret_cast<sockaddr*>(&local), &len) == 0);
    std::uint16_t client_port = ntohs(local.ss_family == AF_INET6 ? reinterpret_cast<sockaddr_in6&>(local).sin6_port
                                                                  : reinterpret_cast<sockaddr_in&>(local).sin_port);
    std::string want = std::string(host) == "::1" ? "[::1]:" : "127.0.0.1:";
    CHECK(accepted.remote_address() == want + std::to_string(client_port));
    CHECK(client.remote_address() == want + std::to_string(l.port()));
    accepted.close();
    CHECK_THROWS_AS(accepted.remote_address(), io_error);
  }
}

TEST_CASE("a peer reset surfaces as an error on the next read and write, never SIGPIPE") {
  with_threads([](std::size_t threads) {
    auto l = io::tcp_listener::bind("127.0.0.1", 0);
    task_pool pool(pool_opts(threads));
    pool.start();
    event connected, reset_done;
    auto server = pool.apply([&] {
      auto s = l.accept();
      connected.wait();  // reset only once connect() returned on the other side
      // SO_LINGER 0: close() sends a reset instead of a clean end of stream.
      linger lg{1, 0};
      ::setsockopt(s.native_handle(), SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
      s.close();
      reset_done.set();
    });
    auto client = pool.apply([&] {
      auto s = io::tcp_stream::connect("127.0.0.1", l.port());
      connected.set();
      reset_done.wait();
      int read_error = 0, write_error = 0;
      try {
        std::array<std::byte, 16> buf;
        s.read_some(buf);
      } catch (const io_error& e) {
        read_error = e.code().value();
      }
      try {
        std::string big(1 << 16, 'x');
        for (int i = 0; i < 64; ++i) s.write_all(bytes(big));
      } catch (const io_error& e) {
        write_error = e.code().value();
      }
      return std::pair{read_error, write_error};
    });
    auto [read_error, write_error] = client.get();
    CHECK(read_error == ECONNRESET);
    CHECK((write_error == EPIPE || write_error == ECONNRESET));
    server.get();
    pool.stop();
  });
}

TEST_CASE("a read with a timeout raises timed_out when no data comes") {
  with_threads([](std::size_t threads) {
    auto l = io::tcp_listener::bind("127.0.0.1", 0);
    task_pool pool(pool_opts(threads));
    pool.start();
    event done;
    auto server = pool.apply([&] {
      auto s = l.accept();
      done.wait();  // holds the connection open, silent
    });
    auto client = pool.apply([&] {
      auto s = io::tcp_stream::connect("127.0.0.1", l.port());
      s.set_timeout(30ms);
      std::array<std::byte, 16> buf;
      try {
        s.read_some(buf);
      } catch (const timed_out& e) {
        return std::string(e.what());
      }
      return std::string();
    });
    CHECK(client.get().find("timed out waiting for reading on fd") != std::string::npos);
    done.set();
    server.get();
    pool.stop();
  });
}

TEST_CASE("wait_readable: returns once readable, times out at its deadline, checks its fd") {
  with_threads([](std::size_t threads) {
    pipe_pair p;
    task_pool pool(pool_opts(threads));
    pool.start();
    CHECK_THROWS_AS(pool.apply([&] { io::wait_readable(p.r, clock::now() + 20ms); }).get(), timed_out);
    event waiting;
    auto reader = pool.apply([&] {
      waiting.set();
      io::wait_readable(p.r);
      char c = 0;
      CHECK(::read(p.r, &c, 1) == 1);
      return c;
    });
    waiting.wait();
    settle();
    REQUIRE(::write(p.w, "z", 1) == 1);
    CHECK(reader.get() == 'z');
    pool.apply([&] { io::wait_writable(p.w, clock::now() + patience); }).get();  // an empty pipe has room
    CHECK_THROWS_AS(pool.apply([] { io::wait_readable(-1); }).get(), std::invalid_argument);
    pool.stop();
  });
}

TEST_CASE("fd_watch keeps an fd registered across waits: a reader of a pipe, byte after byte") {
  with_threads([](std::size_t threads) {
    pipe_pair p;
    task_pool pool(pool_opts(threads));
    pool.start();
    constexpr int bytes = 200;
    event registered;
    auto reader = pool.apply([&] {
      io::fd_watch readable(p.r);
      // The first wait registers the fd (whether or not a byte has come yet), and it stays so: a
      // one-off wait on the same fd is refused. Checked here, not on a later EAGAIN, which a fast
      // writer may never leave room for.
      readable.wait_readable(clock::now() + patience);
      CHECK_THROWS_WITH_AS(io::wait_readable(p.r, clock::now() + 1ms), doctest::Contains("already registered"),
                           io_error);
      registered.set();
      std::string got;
      while (got.size() < bytes) {
        char c;
        ssize_t n = ::read(p.r, &c, 1);
        if (n == 1) {
          got += c;
          continue;
        }
        REQUIRE(errno == EAGAIN);
        readable.wait_readable(clock::now() + patience);
      }
      return got;
    });
    std::string sent;
    for (int i = 0; i < bytes; ++i) {
      char c = static_cast<char>('a' + i % 26);
      sent += c;
      REQUIRE(::write(p.w, &c, 1) == 1);
      if (i % 16 == 0) std::this_thread::yield();
    }
    CHECK(reader.get() == sent);
    CHECK(registered.is_set());
    // Gone with the watch: a one-off wait registers the fd again.
    REQUIRE(::write(p.w, "z", 1) == 1);
    pool.apply([&] { io::wait_readable(p.r, clock::now() + patience); }).get();
    CHECK_THROWS_AS(io::fd_watch(-1), std::invalid_argument);
    pool.stop();
  });
}

TEST_CASE("fd_watch on a plain thread blocks it in poll") {
  pipe_pair p;
  io::fd_watch readable(p.r);
  CHECK_THROWS_AS(readable.wait_readable(clock::now() + 10ms), timed_out);
  REQUIRE(::write(p.w, "a", 1) == 1);
  readable.wait_readable(clock::now() + patience);
  io::fd_watch moved = std::move(readable);
  CHECK(moved.fd() == p.r);
  CHECK(readable.fd() == -1);
}

TEST_CASE("wait_readable on a plain thread blocks it in poll") {
  pipe_pair p;
  CHECK_THROWS_AS(io::wait_readable(p.r, clock::now() + 10ms), timed_out);
  REQUIRE(::write(p.w, "a", 1) == 1);
  io::wait_readable(p.r, clock::now() + patience);
}

TEST_CASE("a kill reaches a job blocked in read, accept, connect and wait_readable; connect times out") {
  with_threads([](std::size_t threads) {
    auto l = io::tcp_listener::bind("127.0.0.1", 0);
    // A second listener that never accepts, with its backlog full, so a connect to it hangs.
    auto full = io::tcp_listener::bind("127.0.0.1", 0, 0);
    std::vector<int> fillers;
    for (int i = 0; i < 8; ++i) {
      int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
      sockaddr_in a{};
      a.sin_family = AF_INET;
      a.sin_port = htons(full.port());
      a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
      ::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a);
      fillers.push_back(fd);
    }
    pipe_pair p;
    task_pool pool(pool_opts(threads));
    pool.start();
    // A connect that cannot complete raises timed_out once its timeout passes.
    CHECK_THROWS_AS(pool.apply([&] { io::tcp_stream::connect("127.0.0.1", full.port(), 30ms); }).get(), timed_out);
    std::atomic<int> entered{0};
    auto in_read = pool.apply([&] {
      auto s = io::tcp_stream::connect("127.0.0.1", l.port());
      ++entered;
      std::array<std::byte, 16> buf;
      s.read_some(buf);  // the accepted side never writes
    });
    auto accepted = pool.apply([&] { return l.accept(); });  // takes in_read's connection
    accepted.wait();
    auto in_accept = pool.apply([&] {
      ++entered;
      l.accept();
    });
    auto in_connect = pool.apply([&] {
      ++entered;
      io::tcp_stream::connect("127.0.0.1", full.port());
    });
    auto in_wait = pool.apply([&] {
      ++entered;
      io::wait_readable(p.r);
    });
    REQUIRE(eventually([&] { return entered.load() == 4; }));
    settle();  // let them block
    for (auto* j : {&in_read, &in_accept, &in_connect, &in_wait}) {
      CHECK(pool.terminate_job(j->id(), SIGTERM));
      CHECK_THROWS_AS(j->get(), job_terminated);
      CHECK(j->state() == job_state::terminated);
    }
    pool.stop();
    for (int fd : fillers) ::close(fd);
  });
}

TEST_CASE("offload: returns the result, rethrows the error, runs on another thread") {
  with_threads([](std::size_t threads) {
    task_pool pool(pool_opts(threads));
    pool.start();
    auto j = pool.apply([] {
      auto caller = std::this_thread::get_id();
      auto helper = offload([] { return std::this_thread::get_id(); });
      CHECK(helper != caller);
      CHECK_THROWS_AS(offload([]() -> int { throw std::runtime_error("from the helper"); }), std::runtime_error);
      offload([] {});  // void works too
      return offload([] { return 6 * 7; });
    });
    CHECK(j.get() == 42);
    pool.stop();
  });
  CHECK(offload([] { return 1; }) == 1);  // outside a runtime it runs here
}

TEST_CASE("a job killed while its offloaded call blocks unwinds at once; the call finishes alone") {
  with_threads([](std::size_t threads) {
    auto release = std::make_shared<std::promise<void>>();
    auto released = release->get_future().share();
    auto finished = std::make_shared<std::atomic<bool>>(false);
    auto entered = std::make_shared<std::atomic<bool>>(false);
    {
      task_pool pool(pool_opts(threads));
      pool.start();
      auto j = pool.apply([&] {
        // Set by the call itself: the kill must come once it runs on the helper, not before the
        // job has handed it over (a kill before that is raised there, and the call never runs).
        offload([released, finished, entered] {
          *entered = true;
          released.wait();
          *finished = true;
        });
      });
      REQUIRE(eventually([&] { return entered->load(); }));
      settle();
      CHECK(pool.terminate_job(j.id()));
      CHECK_THROWS_AS(j.get(), job_terminated);
      CHECK_FALSE(finished->load());  // the helper is still inside the call
      pool.stop();
    }
    release->set_value();
    CHECK(eventually([&] { return finished->load(); }));
  });
}

TEST_CASE("accept() out of file descriptors logs, backs off and keeps serving") {
  if (std::getenv("FIBERPOOL_UNDER_VALGRIND")) {
    MESSAGE("skipped under valgrind, which keeps descriptors of its own below the lowered limit");
    return;
  }
  // In a child: the test lowers the process's descriptor limit.
  auto [status, err] = in_child([] {
    log_capture capture;
    set_logger(capture.logger());
    task_pool pool(pool_opts(1));
    pool.start();
    auto l = io::tcp_listener::bind("127.0.0.1", 0);
    int client = ::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(l.port());
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ::connect(client, reinterpret_cast<sockaddr*>(&a), sizeof a);  // waits in the backlog
    // Use up every descriptor the lowered limit allows.
    rlimit lim{};
    ::getrlimit(RLIMIT_NOFILE, &lim);
    lim.rlim_cur = 256;
    ::setrlimit(RLIMIT_NOFILE, &lim);
    std::vector<int> fillers;
    for (int fd; (fd = ::dup(0)) >= 0;) fillers.push_back(fd);
    auto server = pool.apply([&] { return l.accept().is_open(); });
    bool logged = eventually([&] { return capture.text().find("retrying in") != std::string::npos; });
    for (int fd : fillers) ::close(fd);  // descriptors come back: the accept goes through
    bool served = server.get();
    pool.stop();
    ::_exit(logged && served ? 0 : 1);
  });
  CAPTURE(err);
  REQUIRE(WIFEXITED(status));
  CHECK(WEXITSTATUS(status) == 0);
}
