// metrics_server: GET /metrics (prometheus_text()) and GET /jobs (dump_jobs()) over HTTP/1.1.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

#include <fiberpool/runtime.hpp>
#include <fiberpool/types.hpp>

namespace fiberpool {

struct metrics_server_options {
  std::size_t max_connections = 64;          // served at once; more wait in the listen backlog
  std::size_t max_header_bytes = 8 * 1024;   // request line and headers; more gets 431 and a close
  std::size_t max_header_fields = 64;        // header lines; more gets 431 and a close
  // request_deadline: a request must arrive whole within this of its first byte (a slowloris
  // trickle is cut off), and an idle keep-alive connection is closed after it.
  clock::duration request_deadline = std::chrono::seconds(10);
};

// metrics_server: serves on `host`:`port` (port 0: any free one, see port()) from fibers of `rt`:
// its acceptor and one job per connection of an internal task_pool named "fiberpool-metrics", so
// a runtime whose every thread is busy with jobs still answers as soon as one of them switches.
// GET /metrics: text/plain; version=0.0.4. GET /jobs: dump_jobs() as text/plain. Another path
// gets 404, another method 405, a request the parser (Boost.Beast) rejects 400, each with a close
// on errors. HTTP/1.1 keep-alive is honoured. Throws io_error if it cannot listen.
class metrics_server {
 public:
  metrics_server(runtime& rt, std::string host, std::uint16_t port, metrics_server_options opts = {});
  // ~metrics_server: stops accepting, ends every connection, returns once they are gone.
  ~metrics_server();
  metrics_server(const metrics_server&) = delete;
  metrics_server& operator=(const metrics_server&) = delete;

  std::uint16_t port() const;
  std::size_t requests_served() const noexcept;  // requests answered (any status), so far

  struct state;  // lib/observe/metrics_server.cpp

 private:
  std::unique_ptr<state> state_;
};

}  // namespace fiberpool
