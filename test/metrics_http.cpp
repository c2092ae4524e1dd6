// metrics_server (issue 13): GET /metrics and /jobs over HTTP/1.1 from a real loopback client,
// keep-alive, and what it does with garbage, oversized headers and a slowloris trickle.
#include <chrono>
#include <string>
#include <thread>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <fiberpool/metrics_http.hpp>

#include "support.hpp"

using namespace fiberpool_test;

namespace {

class http_client {
 public:
  explicit http_client(std::uint16_t port) {
    fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(port);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    REQUIRE(::connect(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0);
  }
  ~http_client() { ::close(fd_); }
  bool send(const std::string& s) { return ::send(fd_, s.data(), s.size(), MSG_NOSIGNAL) == static_cast<ssize_t>(s.size()); }
  // response: one whole response (headers, then Content-Length bytes, none for a HEAD); "" if the
  // server closed first.
  std::string response(bool head = false) {
    for (;;) {
      auto end = buf_.find("\r\n\r\n");
      if (end != std::string::npos) {
        std::size_t length = 0;
        auto cl = buf_.find("Content-Length: ");
        if (cl != std::string::npos && cl < end && !head) length = std::stoul(buf_.substr(cl + 16));
        if (buf_.size() >= end + 4 + length) {
          std::string r = buf_.substr(0, end + 4 + length);
          buf_.erase(0, end + 4 + length);
          return r;
        }
      }
      if (!read_more()) return "";
    }
  }
  // closed: the server closed the connection (EOF) within patience.
  bool closed() {
    while (read_more()) {
    }
    return eof_;
  }

 private:
  bool read_more() {
    pollfd p{fd_, POLLIN, 0};
    if (::poll(&p, 1, static_cast<int>(std::chrono::milliseconds(patience).count())) == 0) return false;
    char chunk[8192];  // small: memcheck takes a frame over 64 KiB for a stack switch
    ssize_t n = ::recv(fd_, chunk, sizeof chunk, 0);
    if (n <= 0) {
      eof_ = true;
      return false;
    }
    buf_.append(chunk, static_cast<std::size_t>(n));
    return true;
  }
  int fd_ = -1;
  std::string buf_;
  bool eof_ = false;
};

bool has(const std::string& s, const std::string& part) { return s.find(part) != std::string::npos; }

}  // namespace

TEST_CASE("metrics server: /metrics and /jobs, keep-alive, 404 and 405") {
  with_threads([](std::size_t threads) {
    fiberpool::runtime_options ro;
    ro.threads = threads;
    fiberpool::runtime rt(ro);
    auto o = pool_opts(threads);
    o.name = "served";
    fiberpool::task_pool pool(rt, o);
    pool.start();
    fiberpool::event ev;
    auto waiting = pool.apply([&] { ev.wait(); });
    fiberpool::metrics_server server(rt, "127.0.0.1", 0);
    REQUIRE(server.port() != 0);

    http_client c(server.port());
    REQUIRE(c.send("GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n"));
    auto r = c.response();
    CAPTURE(r);
    CHECK(r.rfind("HTTP/1.1 200 OK\r\n", 0) == 0);
    CHECK(has(r, "Content-Type: text/plain; version=0.0.4"));
    CHECK(has(r, "fiberpool_pool_applied_total{pool=\"served\"} 1\n"));
    // The same connection again (keep-alive): the dump shows the waiting job.
    REQUIRE(c.send("GET /jobs HTTP/1.1\r\nHost: x\r\n\r\n"));
    CHECK(eventually([&] { return !pool.jobs().front().waiting_on.empty(); }));
    r = c.response();
    CHECK(r.rfind("HTTP/1.1 200 OK\r\n", 0) == 0);
    CHECK(has(r, "job " + std::to_string(waiting.id()) + ": running"));
    REQUIRE(c.send("HEAD /metrics HTTP/1.1\r\nHost: x\r\n\r\n"));
    r = c.response(true);  // headers only: its Content-Length is the GET's, no body follows
    CHECK(r.rfind("HTTP/1.1 200 OK\r\n", 0) == 0);
    REQUIRE(c.send("GET /nope HTTP/1.1\r\nHost: x\r\n\r\n"));
    r = c.response();
    CHECK(r.rfind("HTTP/1.1 404 Not Found\r\n", 0) == 0);
    CHECK(c.closed());

    http_client p(server.port());
    REQUIRE(p.send("POST /metrics HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n"));
    CHECK(p.response().rfind("HTTP/1.1 405 Method Not Allowed\r\n", 0) == 0);
    CHECK(eventually([&] { return server.requests_served() >= 5; }));  // counted just after the answer
    ev.set();
    waiting.get();
    pool.stop();
  });
}

TEST_CASE("metrics server: garbage gets 400 and a close; huge headers 431; a slowloris trickle is cut off") {
  fiberpool::runtime rt;
  fiberpool::metrics_server_options o;
  o.max_header_bytes = 1024;
  o.max_header_fields = 8;
  o.request_deadline = std::chrono::milliseconds(300);
  fiberpool::metrics_server server(rt, "127.0.0.1", 0, o);
  {
    http_client c(server.port());
    c.send("\x16\x03\x01 this is no HTTP at all\r\n\r\n");
    CHECK(c.response().rfind("HTTP/1.1 400 Bad Request\r\n", 0) == 0);
    CHECK(c.closed());
  }
  {
    http_client c(server.port());
    c.send("GET /metrics HTTP/1.1\r\nX-Big: " + std::string(4096, 'a') + "\r\n\r\n");
    CHECK(c.response().rfind("HTTP/1.1 431 ", 0) == 0);
    CHECK(c.closed());
  }
  {
    http_client c(server.port());
    std::string req = "GET /metrics HTTP/1.1\r\n";
    for (int i = 0; i < 20; ++i) req += "X-" + std::to_string(i) + ": 1\r\n";
    c.send(req + "\r\n");
    CHECK(c.response().rfind("HTTP/1.1 431 ", 0) == 0);
  }
  {
    // One byte every 50 ms: the request would take seconds; the deadline (300 ms) closes it first.
    http_client c(server.port());
    const std::string req = "GET /metrics HTTP/1.1\r\nHost: slow\r\n\r\n";
    bool cut = false;
    for (char ch : req) {
      if (!c.send(std::string(1, ch))) {
        cut = true;
        break;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    CHECK((cut || c.closed()));
    CHECK(c.response().empty());
  }
  // A connection that says nothing at all is closed too, and the server goes on answering.
  {
    http_client idle(server.port());
    CHECK(idle.closed());
  }
  http_client c(server.port());
  c.send("GET /metrics HTTP/1.1\r\n\r\n");
  CHECK(c.response().rfind("HTTP/1.1 200 OK\r\n", 0) == 0);
}
