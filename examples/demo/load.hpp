// The load generator: client jobs in their own task_pool, each one connecting session after
// session and doing echo round trips; and the stuck client, which connects and never sends.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <optional>

#include <fiberpool/job.hpp>
#include <fiberpool/types.hpp>

#include "latency.hpp"
#include "server.hpp"

namespace fiberpool { class task_pool; }

namespace demo {

// Bytes per request; the server echoes each back whole.
inline constexpr std::size_t message_size = 64;

// Counters every client job updates and the main thread reads while they run.
struct load_stats {
  latency_histogram latency;              // one sample per round trip once served
  latency_histogram wait;                 // per session: connect() to the first reply, the time its
                                          // connection waited in the backlog for a slot
  std::atomic<std::size_t> messages{0};   // round trips completed
  std::atomic<std::size_t> open{0};       // client connections open now
  std::atomic<std::size_t> sessions{0};   // connections the server answered, since the start
};

class load_generator {
 public:
  // load_generator: clients of the server at 127.0.0.1:port that send until stop_at. Make it
  // before the pool its clients run in: they use it, and the pool's destructor waits for them.
  load_generator(options_factory make_options, std::uint16_t port, fiberpool::clock::time_point stop_at,
                 double seconds, load_stats& stats);

  // start_stuck_client: applies the stuck client to `pool`. It connects, sends nothing, and waits
  // for the server to close the connection, which happens only when the server's job for it is
  // killed; after `patience` it gives up and fails.
  fiberpool::job<void> start_stuck_client(fiberpool::task_pool& pool, fiberpool::clock::duration patience);
  // stuck_port: the stuck client's local port, once it has connected.
  std::optional<std::uint16_t> stuck_port() const;

  // start_clients: applies `n` clients to `pool`. Until stop_at each opens a connection, sends
  // 64-byte requests one at a time for a session of 10-24% of the sending time, checks every
  // reply, times every round trip, closes, and connects again.
  void start_clients(fiberpool::task_pool& pool, std::size_t n);

 private:
  void run_client(std::size_t index);
  void run_stuck_client(fiberpool::clock::duration patience);

  options_factory make_options_;
  std::uint16_t port_;
  fiberpool::clock::time_point stop_at_;
  double seconds_;  // the sending time, which sets the sessions' length
  load_stats& stats_;
  std::atomic<std::uint16_t> stuck_port_{0};
};

}  // namespace demo
