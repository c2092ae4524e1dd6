// The load generator: client jobs in their own task_pool, each one connection doing echo round
// trips; and the stuck client, which connects and never sends.
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
  latency_histogram latency;            // one sample per round trip
  std::atomic<std::size_t> messages{0}; // round trips completed
  std::atomic<std::size_t> open{0};     // client connections open now
};

class load_generator {
 public:
  // load_generator: clients of the server at 127.0.0.1:port that send until stop_at. Make it
  // before the pool its clients run in: they use it, and the pool's destructor waits for them.
  load_generator(options_factory make_options, std::uint16_t port, fiberpool::clock::time_point stop_at,
                 load_stats& stats);

  // start_stuck_client: applies the stuck client (index 0) to `pool`. It connects, sends nothing, and waits
  // for the server to close the connection, which happens only when the server's job for it is
  // killed; after `patience` it gives up and fails.
  fiberpool::job<void> start_stuck_client(fiberpool::task_pool& pool, fiberpool::clock::duration patience);
  // stuck_port: the stuck client's local port, once it has connected.
  std::optional<std::uint16_t> stuck_port() const;

  // start_clients: applies `n` clients (indices 1..n) to `pool`. Each connects, sends 64-byte requests one
  // at a time until stop_at, checks every reply, times every round trip, and closes.
  void start_clients(fiberpool::task_pool& pool, std::size_t n);

 private:
  void run_client(std::size_t index);
  void run_stuck_client(fiberpool::clock::duration patience);

  options_factory make_options_;
  std::uint16_t port_;
  fiberpool::clock::time_point stop_at_;
  load_stats& stats_;
  std::atomic<std::uint16_t> stuck_port_{0};
};

}  // namespace demo
