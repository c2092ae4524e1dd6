// io::serve(): the limit caps the connections served, the rest wait in the backlog; grow/shrink move
// the cap live; stop() ends the acceptor, not the handlers; the pool's end ends the acceptor.
#include <algorithm>
#include <array>
#include <atomic>
#include <cerrno>
#include <memory>
#include <string>
#include <vector>

#include <netinet/in.h>
#include <sys/socket.h>

#include <fiberpool/serve.hpp>

#include "support.hpp"

using namespace fiberpool;
using namespace fiberpool_test;

namespace {

std::span<const std::byte> bytes(const std::string& s) { return std::as_bytes(std::span(s.data(), s.size())); }

// How long a client that must NOT be served waits for a greeting before the test believes it.
// An upper bound on nothing: a correct server never greets it while the pool is full, however
// long the wait; a broken one that greets late merely goes unnoticed on a very slow machine.
constexpr auto not_served_wait = std::chrono::milliseconds(300);

// A server whose handler greets each connection with "hi\n", then echoes until the client closes,
// and records the most jobs it ever saw running in the pool.
struct greeter {
  task_pool& pool;
  std::shared_ptr<std::atomic<std::size_t>> peak_running = std::make_shared<std::atomic<std::size_t>>(0);
  std::shared_ptr<std::atomic<std::size_t>> peak_over_limit = std::make_shared<std::atomic<std::size_t>>(0);

  void operator()(io::tcp_stream& s) const {
    std::size_t running = pool.running(), limit = pool.limit();
    std::size_t seen = peak_running->load();
    while (running > seen && !peak_running->compare_exchange_weak(seen, running)) {}
    if (running > limit) peak_over_limit->fetch_add(1);
    s.write_all(bytes("hi\n"));
    std::array<std::byte, 256> buf;
    while (std::size_t n = s.read_some(buf)) s.write_all(std::span(buf).first(n));
  }
};

// A client on the test's own (plain) thread: connect() and reads block it in poll(2).
struct client {
  io::tcp_stream s;
  explicit client(std::uint16_t port) : s(io::tcp_stream::connect("127.0.0.1", port, patience)) {}

  // greeted_within: the server's handler greeted us within d.
  bool greeted_within(clock::duration d) {
    s.set_timeout(d);
    std::array<std::byte, 3> got;
    try {
      s.read_exact(got);
    } catch (const timed_out&) {
      return false;
    }
    return std::string(reinterpret_cast<const char*>(got.data()), got.size()) == "hi\n";
  }
  bool served() { return greeted_within(patience); }
  bool not_served() { return !greeted_within(not_served_wait); }

  // echo: a round trip through the handler.
  std::string echo(const std::string& msg) {
    s.set_timeout(patience);
    s.write_all(bytes(msg));
    std::string out(msg.size(), '\0');
    s.read_exact(std::as_writable_bytes(std::span(out.data(), out.size())));
    return out;
  }
  std::uint16_t local_port() const {
    sockaddr_storage a{};
    socklen_t len = sizeof a;
    REQUIRE(::getsockname(s.native_handle(), reinterpret_cast<sockaddr*>(&a), &len) == 0);
    return ntohs(reinterpret_cast<sockaddr_in&>(a).sin_port);
  }
};

io::tcp_listener loopback() { return io::tcp_listener::bind("127.0.0.1", 0); }

}  // namespace

TEST_CASE("serve: limit 2, three idle clients: two are served, the third waits until one leaves") {
  with_threads([](std::size_t threads) {
    task_pool pool(pool_opts(threads, 2));
    pool.start();
    greeter g{pool};
    io::server srv = io::serve(loopback(), pool, g);
    CHECK(srv.serving());
    CHECK(pool.running() == 0);  // the acceptor holds no slot
    auto c1 = std::make_unique<client>(srv.port());
    auto c2 = std::make_unique<client>(srv.port());
    REQUIRE(c1->served());
    REQUIRE(c2->served());
    auto c3 = std::make_unique<client>(srv.port());  // connect() succeeds: the kernel's backlog takes it
    CHECK(c3->not_served());
    CHECK(pool.running() == 2);
    CHECK(pool.waiting() == 0);
    CHECK(srv.accepted() == 2);
    CHECK(c2->echo("ping") == "ping");  // the served ones still work while the third waits
    c1.reset();  // its handler ends: a slot frees, the acceptor takes the third
    CHECK(c3->served());
    CHECK(c3->echo("pong") == "pong");
    CHECK(srv.accepted() == 3);
    // And again: the acceptor was not left stuck by the full pool.
    auto c4 = std::make_unique<client>(srv.port());
    CHECK(c4->not_served());
    c2.reset();
    CHECK(c4->served());
    CHECK(srv.accepted() == 4);
    CHECK(g.peak_running->load() <= 2);
    CHECK(g.peak_over_limit->load() == 0);
    c3.reset();
    c4.reset();
    srv.stop();
    pool.stop();
    CHECK(pool.info().succeeded == 4);
  });
}

TEST_CASE("serve: grow() lets a waiting connection in at once; shrink() holds the next ones back") {
  with_threads([](std::size_t threads) {
    task_pool pool(pool_opts(threads, 2));
    pool.start();
    greeter g{pool};
    io::server srv = io::serve(loopback(), pool, g);
    std::vector<std::unique_ptr<client>> served;
    for (int i = 0; i < 2; ++i) {
      served.push_back(std::make_unique<client>(srv.port()));
      REQUIRE(served.back()->served());
    }
    auto waiting = std::make_unique<client>(srv.port());
    CHECK(waiting->not_served());
    pool.grow(1);  // nobody left: the new slot alone lets it in
    CHECK(waiting->served());
    served.push_back(std::move(waiting));
    CHECK(pool.running() == 3);

    // shrink(2): limit 1 with three served. Nobody is cut off; the next client waits until
    // running() is below the new limit, that is until three have left.
    pool.shrink(2);
    CHECK(pool.limit() == 1);
    auto next = std::make_unique<client>(srv.port());
    CHECK(next->not_served());
    served[0].reset();
    CHECK(next->not_served());  // two still running, limit 1
    served[1].reset();
    CHECK(next->not_served());  // one still running, limit 1
    CHECK(served[2]->echo("still served") == "still served");
    served[2].reset();
    CHECK(next->served());
    CHECK(g.peak_over_limit->load() == 0);  // no handler ever started above the limit
    CHECK(g.peak_running->load() == 3);
    next.reset();
    srv.stop();
    pool.stop();
  });
}

TEST_CASE("serve: stop() ends the acceptor and closes the listener; running handlers go on") {
  with_threads([](std::size_t threads) {
    task_pool pool(pool_opts(threads, 4));
    pool.start();
    greeter g{pool};
    // The handler by value, as API.md allows.
    io::server srv = io::serve(loopback(), pool, [g](io::tcp_stream s) { g(s); });
    std::uint16_t port = srv.port();
    client c(port);
    REQUIRE(c.served());
    // Its job is named after the client, as ps names a process.
    auto jobs = pool.jobs();
    REQUIRE(jobs.size() == 1);
    CHECK(jobs[0].name == "conn 127.0.0.1:" + std::to_string(c.local_port()));
    srv.stop();
    CHECK_FALSE(srv.serving());
    srv.stop();  // idempotent
    CHECK(c.echo("after stop") == "after stop");  // the handler goes on
    int refused = 0;
    try {
      io::tcp_stream::connect("127.0.0.1", port, patience);
    } catch (const io_error& e) {
      refused = e.code().value();
    }
    CHECK(refused == ECONNREFUSED);  // nothing listens there any more
    CHECK(srv.accepted() == 1);
    CHECK(pool.running() == 1);
    c.s.close();
    pool.stop();
    CHECK(pool.info().succeeded == 1);
  });
}

TEST_CASE("serve: connections wait until the pool starts; a stopped pool ends the acceptor") {
  with_threads([](std::size_t threads) {
    io::server srv;
    {
      task_pool pool(pool_opts(threads, 2));
      greeter g{pool};
      srv = io::serve(loopback(), pool, g);
      client early(srv.port());
      CHECK(early.not_served());  // a pool that was never started has no slot to give
      pool.start();
      CHECK(early.served());
      early.s.close();
      CHECK(pool.waitall_for(patience));
      pool.stop();  // the acceptor is blocked in accept(): stop() ends it and waits for it
      CHECK_FALSE(srv.serving());
      CHECK_THROWS_AS(io::serve(loopback(), pool, g), pool_closed);
    }
    // The pool is gone before the server: the server only holds what is its own.
    CHECK_FALSE(srv.serving());
    CHECK(srv.accepted() == 1);
  });
}

TEST_CASE("serve: a pool destroyed while its acceptor waits in accept() ends it; no fiber is left") {
  with_threads([](std::size_t threads) {
    io::server srv;
    std::unique_ptr<client> c;  // outlives the pool: its handler is still reading when the pool goes
    {
      task_pool pool(pool_opts(threads, 2));
      pool.start();
      srv = io::serve(loopback(), pool, greeter{pool});
      c = std::make_unique<client>(srv.port());
      REQUIRE(c->served());
      // ~task_pool terminates: the handler is killed, and the acceptor ends before the pool's
      // state goes.
    }
    CHECK_FALSE(srv.serving());
    std::array<std::byte, 1> b;
    CHECK(c->s.read_some(b) == 0);  // the killed handler's stream closed
  });
}

TEST_CASE("serve: a locked pool's connections are closed and logged; unlocked, it serves again") {
  with_threads([](std::size_t threads) {
    log_capture capture;
    auto opts = pool_opts(threads, 2);
    opts.logger = capture.logger();
    task_pool pool(opts);
    pool.start();
    io::server srv = io::serve(loopback(), pool, greeter{pool});
    pool.lock();
    {
      client refused(srv.port());
      refused.s.set_timeout(patience);
      std::array<std::byte, 3> got;
      CHECK_THROWS_AS(refused.s.read_exact(got), end_of_stream);  // closed without a greeting
    }
    // Logged just after the connection closed (the refused job took the stream with it).
    CHECK(eventually([&] { return capture.text().find("refused a connection, closing it") != std::string::npos; }));
    CHECK(srv.serving());
    pool.unlock();
    {
      client served(srv.port());
      CHECK(served.served());
    }
    CHECK(srv.accepted() == 1);
    srv.stop();
    pool.stop();
  });
}

TEST_CASE("serve: refuses a closed listener and a null handler") {
  task_pool pool(pool_opts(1, 2));
  pool.start();
  CHECK_THROWS_AS(io::serve(io::tcp_listener(), pool, greeter{pool}), std::invalid_argument);
  std::function<void(io::tcp_stream&)> empty;
  CHECK_THROWS_AS(io::serve(loopback(), pool, empty), std::invalid_argument);
  pool.stop();
}
