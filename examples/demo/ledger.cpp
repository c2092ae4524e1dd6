// job_ledger: counters updated from the pool's threads.
#include "ledger.hpp"

#include <algorithm>

namespace demo {

void job_ledger::job_ended(fiberpool::job_id id, fiberpool::job_state end) {
  {
    std::lock_guard lk(mu_);
    ++ends_[id];
  }
  if (id == watched_.load()) watched_end_.store(static_cast<int>(end));
  by_state_[static_cast<std::size_t>(end)].fetch_add(1);
  ended_.fetch_add(1);
}

void job_ledger::on_started() noexcept {
  std::int64_t now = running_.fetch_add(1) + 1;
  // Lock-free max: retry only while another thread has not already raised peak_ above `now`.
  std::int64_t peak = peak_.load();
  while (now > peak && !peak_.compare_exchange_weak(peak, now)) {}
}

void job_ledger::on_stopped() noexcept { running_.fetch_sub(1); }

std::size_t job_ledger::ended_in(fiberpool::job_state s) const noexcept {
  return by_state_[static_cast<std::size_t>(s)].load();
}

std::optional<fiberpool::job_state> job_ledger::watched_end() const noexcept {
  int end = watched_end_.load();
  return end < 0 ? std::nullopt : std::optional<fiberpool::job_state>(static_cast<fiberpool::job_state>(end));
}

std::size_t job_ledger::peak_running() const noexcept {
  return static_cast<std::size_t>(std::max<std::int64_t>(peak_.load(), 0));
}

std::size_t job_ledger::not_ended_once(std::size_t applied) const {
  std::lock_guard lk(mu_);
  std::size_t bad = 0;
  for (const auto& [id, n] : ends_) bad += n > 1 ? n - 1 : 0;
  return bad + (applied > ends_.size() ? applied - ends_.size() : ends_.size() - applied);
}

}  // namespace demo
