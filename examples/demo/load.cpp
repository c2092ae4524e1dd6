// Client jobs: sessions of closed-loop echo round trips, and the stuck client.
#include "load.hpp"

#include <algorithm>
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

// A reply slower than this, once served, means something is wrong (the server stopped reading):
// fail the client rather than hang the run. The first reply of a session may come much later: its
// connection waits in the backlog until the server pool has a free slot.
constexpr clock::duration io_timeout = 10s;
constexpr clock::duration first_reply_timeout = 60s;

using message = std::array<std::byte, message_size>;

// Counts one up for as long as it lives, however the client job ends, a kill included.
struct gauge {
  explicit gauge(std::atomic<std::size_t>& n) : n_(n) { n_.fetch_add(1); }
  ~gauge() { n_.fetch_sub(1); }
  gauge(const gauge&) = delete;
  gauge& operator=(const gauge&) = delete;
  std::atomic<std::size_t>& n_;
};

// session_length: 10% to 24% of the sending time (0.5 to 1.2 s of the default 5 s), spread over
// the clients so that sessions do not end in waves, and short enough that a shrink() shows.
clock::duration session_length(std::size_t index, double seconds) {
  return std::chrono::duration_cast<clock::duration>(
      std::chrono::duration<double>(seconds * (0.10 + 0.02 * static_cast<double>(index % 8))));
}

}  // namespace

load_generator::load_generator(options_factory make_options, std::uint16_t port, clock::time_point stop_at,
                               double seconds, load_stats& stats)
    : make_options_(std::move(make_options)), port_(port), stop_at_(stop_at), seconds_(seconds), stats_(stats) {}

fiberpool::job<void> load_generator::start_stuck_client(fiberpool::task_pool& pool, clock::duration patience) {
  return pool.apply(make_options_("stuck-client"), [this, patience] { run_stuck_client(patience); });
}

std::optional<std::uint16_t> load_generator::stuck_port() const {
  std::uint16_t p = stuck_port_.load();
  return p ? std::optional<std::uint16_t>(p) : std::nullopt;
}

void load_generator::start_clients(fiberpool::task_pool& pool, std::size_t n) {
  for (std::size_t i = 1; i <= n; ++i)
    pool.apply(make_options_("client-" + std::to_string(i)), [this, i] { run_client(i); });
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
  message request, reply;
  // Bytes 0-7 carry the client's index, 8-15 a sequence number, the rest a fixed pattern: a reply
  // from another connection or an old request would not compare equal.
  for (std::size_t i = 16; i < message_size; ++i) request[i] = static_cast<std::byte>('a' + i % 26);
  std::memcpy(request.data(), &index, sizeof index);
  std::uint64_t seq = 0;
  auto round_trip = [&](fiberpool::io::tcp_stream& conn) {
    std::memcpy(request.data() + 8, &seq, sizeof seq);
    ++seq;
    conn.write_all(request);
    conn.read_exact(reply);  // end_of_stream if the server closed in the middle of a reply
    stats_.messages.fetch_add(1, std::memory_order_relaxed);
    if (reply != request) throw std::runtime_error("an echo reply did not match its request");
  };
  while (clock::now() < stop_at_) {
    fiberpool::io::tcp_stream conn = fiberpool::io::tcp_stream::connect("127.0.0.1", port_, io_timeout);
    gauge open(stats_.open);
    clock::time_point connected = clock::now();
    // The first request: connect() succeeded (the kernel took the connection into the listener's
    // backlog), but no server job reads it until the pool has a free slot.
    conn.set_timeout(first_reply_timeout);
    round_trip(conn);
    stats_.wait.record(clock::now() - connected);
    stats_.sessions.fetch_add(1, std::memory_order_relaxed);
    conn.set_timeout(io_timeout);
    clock::time_point session_end = std::min(connected + session_length(index, seconds_), stop_at_);
    while (clock::now() < session_end) {
      clock::time_point sent = clock::now();
      round_trip(conn);
      stats_.latency.record(clock::now() - sent);
    }
    // conn closes here; the server's read returns 0 and its job ends succeeded, freeing a slot.
  }
}

}  // namespace demo
