// process_pool: the public facade over process_core.
#include <fiberpool/process_pool.hpp>

#include "process/process_core.hpp"

namespace fiberpool {

process_pool::process_pool(process_pool_options opts)
    : core_(std::make_unique<detail::process_core>(std::move(opts))) {}
process_pool::~process_pool() = default;

void process_pool::start() { core_->start(); }
void process_pool::close() { core_->parent().close(); }
void process_pool::stop() { core_->stop(); }
bool process_pool::stop_for(clock::duration grace) { return core_->stop_for(grace); }
void process_pool::terminate() { core_->terminate(); }
void process_pool::restart() { core_->restart(); }
bool process_pool::did_start_ok() const { return core_->did_start_ok(); }
pool_state process_pool::state() const { return core_->parent().state(); }

job<std::string> process_pool::apply(std::string_view task, std::string payload, job_options opts) {
  core_->check_apply(task, payload.size());
  auto soft = core_->soft_limit_of(opts);
  opts.soft_time_limit.reset();  // the worker's to enforce, inside the task
  if (opts.name.empty()) opts.name = std::string(task);
  return core_->parent().apply(std::move(opts), [core = core_.get(), task = std::string(task),
                                                 payload = std::move(payload), soft] {
    return core->remote(task, payload, soft);
  });
}

std::function<std::string(const std::string&)> process_pool::remote_call(std::string_view task, job_options& opts) {
  core_->check_apply(task, 0);
  auto soft = core_->soft_limit_of(opts);
  opts.soft_time_limit.reset();
  return [core = core_.get(), task = std::string(task), soft](const std::string& payload) {
    core->check_apply(task, payload.size());
    return core->remote(task, payload, soft);
  };
}

bool process_pool::terminate_job(job_id id, int signal) { return core_->parent().terminate_job(id, signal); }
void process_pool::grow(std::size_t n) { core_->grow(n); }
void process_pool::shrink(std::size_t n) { core_->shrink(n); }
void process_pool::resize(std::size_t processes) { core_->resize(processes); }
std::size_t process_pool::num_processes() const { return core_->num_processes(); }
std::size_t process_pool::running() const { return core_->parent().running(); }
std::size_t process_pool::waiting() const { return core_->parent().waiting(); }
pool_info process_pool::info() const { return core_->info(); }
std::vector<job_info> process_pool::jobs() const { return core_->jobs(); }
pool_stats process_pool::stats() const { return core_->stats(); }
std::vector<int> process_pool::worker_pids() const { return core_->worker_pids(); }
signal_bus& process_pool::signals() { return core_->parent().signals(); }
void process_pool::register_with_event_loop(event_loop& loop) { core_->register_with_event_loop(loop); }
const std::string& process_pool::name() const { return core_->opts().name; }
task_pool& process_pool::parent_pool() { return core_->parent(); }

}  // namespace fiberpool
