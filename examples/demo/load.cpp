// Client jobs: closed-loop echo round trips, and the stuck client.
#include "load.hpp"

#include <array>
#include <chrono>
#include <cstring>
#include <span>
#include <stdexcept>
#include <string>
#include <utility>

#include <fiberpool/io.hpp>
#include <fiberpool/task_pool.hpp>

namespace demo {
namespace {

using namespace std::chrono_literals;
using fiberpool::clock;

// A reply slower than this means something is wrong (the server stopped reading): fail the client
// rather than hang the run.
constexpr clock::duration io_timeout = 10s;

using message = std::array<std::byte, message_size>;

// read_exact: fills buf, over as many reads as it takes.
void read_exact(fiberpool::io::tcp_stream& conn, std::span<std::byte> buf) {
  while (!buf.empty()) {
    std::size_t n = conn.read_some(buf);
    if (n == 0) throw std::runtime_error("the server closed the connection in the middle of a reply");
    buf = buf.subspan(n);
  }
}

// Decrements load_stats::open however the client job ends, a kill included.
struct open_connection {
  explicit open_connection(std::atomic<std::size_t>& n) : n_(n) { n_.fetch_add(1); }
  ~open_connection() { n_.fetch_sub(1); }
  open_connection(const open_connection&) = delete;
  open_connection& operator=(const open_connection&) = delete;
  std::atomic<std::size_t>& n_;
};

}  // namespace

load_generator::load_generator(options_factory make_options, std::uint16_t port, clock::time_point stop_at,
                               load_stats& stats)
    : make_options_(std::move(make_options)), port_(port), stop_at_(stop_at), stats_(stats) {}

fiberpool::job<void> load_generator::start_stuck_client(fiberpool::task_pool& pool, clock::duration patience) {
  return pool.apply(make_options_("stuck-client", 0), [this, patience] { run_stuck_client(patience); });
}

std::optional<std::uint16_t> load_generator::stuck_port() const {
  std::uint16_t p = stuck_port_.load();
  return p ? std::optional<std::uint16_t>(p) : std::nullopt;
}

void load_generator::start_clients(fiberpool::task_pool& pool, std::size_t n) {
  for (std::size_t i = 1; i <= n; ++i)
    pool.apply(make_options_("client-" + std::to_string(i), i), [this, i] { run_client(i); });
}

void load_generator::run_stuck_client(clock::duration patience) {
  fiberpool::io::tcp_stream conn = fiberpool::io::tcp_stream::connect("127.0.0.1", port_, io_timeout);
  stuck_port_.store(local_port(conn.native_handle()));
  conn.set_timeout(patience);
  std::array<std::byte, 1> byte;
  // Nothing was sent, so nothing comes back: this read ends only at end of stream, when the
  // server's job for this connection is killed and its socket closed (or times out: a failure).
  if (conn.read_some(byte) != 0) throw std::runtime_error("the stuck client got data it never asked for");
}

void load_generator::run_client(std::size_t index) {
  fiberpool::io::tcp_stream conn = fiberpool::io::tcp_stream::connect("127.0.0.1", port_, io_timeout);
  open_connection counted(stats_.open);
  conn.set_timeout(io_timeout);
  message request, reply;
  // Bytes 0-7 carry the client's index, 8-15 a sequence number, the rest a fixed pattern: a reply
  // from another connection or an old request would not compare equal.
  for (std::size_t i = 16; i < message_size; ++i) request[i] = static_cast<std::byte>('a' + i % 26);
  std::memcpy(request.data(), &index, sizeof index);
  for (std::uint64_t seq = 0; clock::now() < stop_at_; ++seq) {
    std::memcpy(request.data() + 8, &seq, sizeof seq);
    clock::time_point sent = clock::now();
    conn.write_all(request);
    read_exact(conn, reply);
    stats_.latency.record(clock::now() - sent);
    stats_.messages.fetch_add(1, std::memory_order_relaxed);
    if (reply != request) throw std::runtime_error("an echo reply did not match its request");
  }
  // conn closes here; the server's read returns 0 and its job ends succeeded.
}

}  // namespace demo
