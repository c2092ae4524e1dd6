// task_pool: the public facade; every member forwards to pool_core.
#include <fiberpool/task_pool.hpp>

#include "pool/pool_core.hpp"

namespace fiberpool {

detail::pool_core& detail::core_of(task_pool& pool) noexcept { return *pool.core_; }

task_pool::task_pool(pool_options opts) : core_(std::make_unique<detail::pool_core>(*this, std::move(opts), nullptr)) {}
task_pool::task_pool(fiberpool::runtime& rt, pool_options opts)
    : core_(std::make_unique<detail::pool_core>(*this, std::move(opts), &rt)) {}
task_pool::~task_pool() = default;

void task_pool::start() { core_->start(); }
void task_pool::register_with_event_loop(event_loop& loop) { core_->register_with_event_loop(loop); }
void task_pool::close() { core_->close(); }
void task_pool::stop() { core_->stop(); }
bool task_pool::stop_for(clock::duration grace) { return core_->stop_for(grace); }
void task_pool::terminate() { core_->terminate(); }
void task_pool::restart() { core_->restart(); }
bool task_pool::did_start_ok() const { return core_->did_start_ok(); }
pool_state task_pool::state() const { return core_->state(); }

void task_pool::submit(detail::job_record& rec, job_options&& opts) { core_->submit(rec, std::move(opts)); }

void task_pool::grow(std::size_t n) { core_->grow(n); }
void task_pool::shrink(std::size_t n) { core_->shrink(n); }
void task_pool::resize(std::size_t new_limit) { core_->resize(new_limit); }
std::size_t task_pool::limit() const { return core_->limit(); }

bool task_pool::terminate_job(job_id id, int signal) { return core_->terminate_job(id, signal); }

std::size_t task_pool::num_processes() const { return core_->num_processes(); }
std::size_t task_pool::running() const { return core_->running(); }
std::size_t task_pool::waiting() const { return core_->waiting(); }
std::size_t task_pool::free() const { return core_->free_slots(); }
pool_info task_pool::info() const { return core_->info(); }
std::vector<job_info> task_pool::jobs() const { return core_->jobs(); }
pool_stats task_pool::stats() const { return core_->stats(); }
signal_bus& task_pool::signals() { return core_->signals; }
fiberpool::timer& task_pool::timer() { return core_->timer(); }
const std::string& task_pool::name() const { return core_->opts.name; }
fiberpool::runtime& task_pool::runtime() { return core_->runtime(); }

std::vector<job_id> task_pool::group_ids(std::string_view group) const { return core_->group_ids(group); }
bool task_pool::has_group(std::string_view group) const { return core_->has_group(group); }
void task_pool::cancel(std::span<const job_id> ids) { core_->cancel(ids); }
void task_pool::cancel_group(std::string_view group) { core_->cancel_group(group); }
void task_pool::cancel_all() { core_->cancel_all(); }
void task_pool::lock() { core_->lock(); }
void task_pool::unlock() { core_->unlock(); }
bool task_pool::is_locked() const { return core_->is_locked(); }
bool task_pool::is_full() const { return core_->is_full(); }
void task_pool::flush() { core_->flush(); }
void task_pool::gather_and_close() { core_->gather_and_close(); }
std::string task_pool::launch_map(detail::map_feeder& feeder, std::string group) {
  return core_->start_map(feeder, std::move(group));
}

void task_pool::waitall() { core_->waitall(); }
bool task_pool::waitall_for(clock::duration d) {
  return core_->waitall_until(clock::now() + d);
}

std::string_view to_string(pool_state s) noexcept {
  switch (s) {
    case pool_state::created: return "created";
    case pool_state::running: return "running";
    case pool_state::closed: return "closed";
    case pool_state::stopped: return "stopped";
  }
  return "unknown";
}

std::string_view to_string(job_state s) noexcept {
  switch (s) {
    case job_state::queued: return "queued";
    case job_state::running: return "running";
    case job_state::succeeded: return "succeeded";
    case job_state::failed: return "failed";
    case job_state::terminated: return "terminated";
    case job_state::cancelled: return "cancelled";
  }
  return "unknown";
}

}  // namespace fiberpool
