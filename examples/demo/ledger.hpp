// job_ledger: the demo's own count of job starts and ends, to check the pool's info() against.
#pragma once

#include <array>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <mutex>
#include <optional>
#include <unordered_map>

#include <fiberpool/types.hpp>

namespace demo {

// Every member is safe to call from any thread: jobs end on the pool's scheduler threads while
// the main thread reads the totals.
class job_ledger {
 public:
  // job_ended: from a job's on_ended callback, which fiberpool calls exactly once per job.
  void job_ended(fiberpool::job_id id, fiberpool::job_state end);
  // watch: remember how the job `id` ends (the connection about to be killed); watched_end: that
  // end, once it happened.
  void watch(fiberpool::job_id id) noexcept { watched_.store(id); }
  std::optional<fiberpool::job_state> watched_end() const noexcept;
  // on_started / on_stopped: from the job_started and job_ended signals; track peak concurrency.
  void on_started() noexcept;
  void on_stopped() noexcept;

  std::size_t ended() const noexcept { return ended_.load(); }
  std::size_t ended_in(fiberpool::job_state s) const noexcept;
  std::size_t peak_running() const noexcept;
  // not_ended_once: jobs whose on_ended ran more than once (should be 0), plus the difference
  // between the jobs applied and the jobs seen ending (also 0 once every applied job ended).
  std::size_t not_ended_once(std::size_t applied) const;

 private:
  mutable std::mutex mu_;
  std::unordered_map<fiberpool::job_id, std::uint32_t> ends_;  // (mu_) on_ended calls, per job id
  std::atomic<std::size_t> ended_{0};
  std::array<std::atomic<std::size_t>, 6> by_state_{};  // indexed by job_state
  // Signed: a job that never got a fiber ends (job_ended) without a job_started.
  std::atomic<std::int64_t> running_{0};
  std::atomic<std::int64_t> peak_{0};
  std::atomic<fiberpool::job_id> watched_{0};
  std::atomic<int> watched_end_{-1};  // a job_state, -1 until the watched job ends
};

}  // namespace demo
