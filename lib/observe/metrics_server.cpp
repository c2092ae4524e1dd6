// metrics_server: an io::serve() listener whose connection jobs parse HTTP/1.1 with Boost.Beast's
// parser (fed from a fiberpool tcp_stream; no Asio socket) and answer with prometheus_text() or
// dump_jobs().
#include <fiberpool/metrics_http.hpp>

#include <algorithm>
#include <array>
#include <atomic>
#include <cstddef>
#include <iterator>
#include <sstream>
#include <string>
#include <utility>

// Beast 1.81's parser trips GCC 12's -Wmaybe-uninitialized (a boost::optional in basic_parser's
// do_field) in optimized sanitizer builds: a false positive in Boost's headers, silenced for them.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#include <boost/beast/http/empty_body.hpp>
#include <boost/beast/http/error.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/beast/http/write.hpp>
#pragma GCC diagnostic pop

#include <fiberpool/errors.hpp>
#include <fiberpool/io.hpp>
#include <fiberpool/metrics.hpp>
#include <fiberpool/serve.hpp>
#include <fiberpool/task_pool.hpp>

namespace fiberpool {
namespace {

namespace http = boost::beast::http;

struct answer {
  http::status status;
  std::string body;
  const char* type = "text/plain; charset=utf-8";
};

answer route(const http::request<http::empty_body>& req) {
  const auto target = std::string(req.target());
  const auto path = target.substr(0, target.find('?'));
  if (path != "/metrics" && path != "/jobs") return {http::status::not_found, "not found: try /metrics or /jobs\n"};
  if (req.method() != http::verb::get && req.method() != http::verb::head)
    return {http::status::method_not_allowed, "only GET and HEAD\n"};
  if (path == "/metrics") return {http::status::ok, prometheus_text(), "text/plain; version=0.0.4; charset=utf-8"};
  return {http::status::ok, dump_jobs()};
}

void respond(io::tcp_stream& conn, unsigned version, const answer& a, bool keep_alive, bool head) {
  http::response<http::string_body> res{a.status, version};
  res.set(http::field::server, "fiberpool");
  res.set(http::field::content_type, a.type);
  res.body() = a.body;
  res.prepare_payload();
  res.keep_alive(keep_alive);
  std::ostringstream out;
  if (head) out << res.base();  // the headers, with the GET's Content-Length
  else out << res;
  const std::string bytes = out.str();
  conn.write_all(std::as_bytes(std::span(bytes.data(), bytes.size())));
}

}  // namespace

struct metrics_server::state {
  state(runtime& rt, const std::string& host, std::uint16_t port, metrics_server_options o)
      : opts(o), pool(rt, pool_opts(o)) {
    pool.start();
    auto listener = io::tcp_listener::bind(host, port);
    bound_port = listener.port();
    server = io::serve(std::move(listener), pool, [this](io::tcp_stream& conn) { serve_connection(conn); });
  }
  ~state() {
    server.stop();
    pool.terminate();  // connections waiting for a request end now
  }

  static pool_options pool_opts(const metrics_server_options& o) {
    pool_options p;
    p.name = "fiberpool-metrics";
    p.limit = std::max<std::size_t>(1, o.max_connections);
    p.log_failures = false;  // a peer that resets is no failure of ours
    return p;
  }

  void serve_connection(io::tcp_stream& conn) const;

  metrics_server_options opts;
  task_pool pool;
  io::server server;
  std::uint16_t bound_port = 0;
  mutable std::atomic<std::size_t> served{0};
};

void metrics_server::state::serve_connection(io::tcp_stream& conn) const {
  std::string pending;
  std::array<char, 4096> chunk;
  for (;;) {
    // One request: it must arrive whole within the deadline of its first byte (or, between
    // requests, of the last answer), however slowly the peer trickles it.
    const auto deadline = clock::now() + opts.request_deadline;
    http::request_parser<http::empty_body> parser;
    parser.header_limit(static_cast<std::uint32_t>(std::min<std::size_t>(opts.max_header_bytes, UINT32_MAX)));
    parser.body_limit(0);  // GET and HEAD carry none; a body is refused
    boost::system::error_code ec;
    for (;;) {
      if (!pending.empty()) {
        const std::size_t used = parser.put(boost::asio::buffer(pending.data(), pending.size()), ec);
        pending.erase(0, used);
        if (parser.is_done()) break;
        if (ec && ec != http::error::need_more) break;
        ec = {};
        if (used > 0) continue;
      }
      const auto left = deadline - clock::now();
      if (left <= clock::duration::zero()) return;  // too slow: close without a word
      conn.set_timeout(left);
      std::size_t n;
      try {
        n = conn.read_some(std::as_writable_bytes(std::span(chunk)));
      } catch (const timed_out&) {
        return;
      } catch (const io_error&) {
        return;  // reset by the peer
      }
      if (n == 0) return;  // the peer closed (mid-request or between requests)
      pending.append(chunk.data(), n);
      if (pending.size() > opts.max_header_bytes + chunk.size()) {  // the parser's limit, with one read's slack
        ec = http::error::header_limit;
        break;
      }
    }
    conn.set_timeout(opts.request_deadline);  // the answer must go out within it too
    if (ec) {
      const bool too_big = ec == http::error::header_limit;
      respond(conn, 11,
              {too_big ? http::status::request_header_fields_too_large : http::status::bad_request,
               too_big ? "request header too large\n" : "bad request: " + ec.message() + "\n"},
              false, false);
      served.fetch_add(1, std::memory_order_relaxed);
      return;
    }
    const auto& req = parser.get();
    if (static_cast<std::size_t>(std::distance(req.begin(), req.end())) > opts.max_header_fields) {
      respond(conn, req.version(), {http::status::request_header_fields_too_large, "too many header fields\n"}, false,
              false);
      served.fetch_add(1, std::memory_order_relaxed);
      return;
    }
    const answer a = route(req);
    const bool keep = req.keep_alive() && a.status == http::status::ok;
    respond(conn, req.version(), a, keep, req.method() == http::verb::head);
    served.fetch_add(1, std::memory_order_relaxed);
    if (!keep) return;
  }
}

metrics_server::metrics_server(runtime& rt, std::string host, std::uint16_t port, metrics_server_options opts) {
  if (opts.request_deadline <= clock::duration::zero())
    throw std::invalid_argument("fiberpool: metrics_server_options::request_deadline must be positive");
  if (opts.max_header_bytes < 256)
    throw std::invalid_argument("fiberpool: metrics_server_options::max_header_bytes must be at least 256");
  state_ = std::make_unique<state>(rt, host, port, opts);
}

metrics_server::~metrics_server() = default;

std::uint16_t metrics_server::port() const { return state_->bound_port; }

std::size_t metrics_server::requests_served() const noexcept { return state_->served.load(std::memory_order_relaxed); }

}  // namespace fiberpool
