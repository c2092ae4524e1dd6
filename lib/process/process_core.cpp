// process_core: workers started, fed, watched, reaped and replaced; jobs dispatched to them.
#include "process/process_core.hpp"

#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <thread>

#include <spdlog/spdlog.h>

#include <fiberpool/io.hpp>
#include <fiberpool/log.hpp>
#include <fiberpool/this_job.hpp>

#include "process/spawn.hpp"
#include "process/task_registry.hpp"

namespace fiberpool::detail {
namespace {

pool_options parent_options(const process_pool_options& o, std::size_t processes) {
  pool_options p;
  p.name = o.name;
  p.limit = processes * o.jobs_per_process;
  p.threads = 1;  // the parent's side only waits: for room, for sockets, for answers
  p.max_queued = o.max_queued;
  p.on_overflow = o.on_overflow;
  p.hard_time_limit = o.hard_time_limit;  // enforced here; the soft limit goes to the worker
  p.logger = o.logger;
  return p;
}

constexpr std::size_t max_payload_bound = std::size_t(3) << 30;  // a frame's length is 32 bits

std::size_t processes_of(const process_pool_options& o) {
  if (o.max_payload > max_payload_bound)
    throw std::invalid_argument("fiberpool: process_pool max_payload of " + std::to_string(o.max_payload) +
                                " bytes is above the 3 GiB a frame can carry; lower it");
  if (o.jobs_per_process == 0)
    throw std::invalid_argument("fiberpool: process_pool jobs_per_process 0 could never run a job; pass at least 1");
  if (o.processes) return o.processes;
  return std::max(1u, std::thread::hardware_concurrency());
}

}  // namespace

worker_link::~worker_link() {
  if (sock >= 0) ::close(sock);
  if (write_sock >= 0) ::close(write_sock);
  if (pidfd >= 0) ::close(pidfd);
}

process_core::process_core(process_pool_options opts)
    : opts_(std::move(opts)),
      log_(opts_.logger ? opts_.logger : fiberpool::logger()),
      target_(processes_of(opts_)),
      parent_(parent_options(opts_, target_)) {
  if (std::getenv(worker_env))
    throw error("fiberpool: process_pool '" + opts_.name + "' made in a worker process: main() must call "
                "fiberpool::run_if_worker(argc, argv) first (after registering tasks) and return its exit code");
  services_done_.set();
  // The control socket and prometheus_text() see the inner pool; through this, they grow and
  // count the process pool itself.
  core_of(parent_).set_facade(this);
}

process_core::~process_core() {
  core_of(parent_).set_facade(nullptr);
  if (parent_.state() != pool_state::stopped) terminate();
  let_workers_go(true);
  wait_workers_gone(std::nullopt);
  services_done_.wait();
}

// --- lifecycle ---

void process_core::start() {
  {
    std::lock_guard lk(mu_);
    if (started_) throw error("fiberpool: process_pool '" + opts_.name + "' was already started");
    started_ = true;
  }
  for (std::size_t i = 0; i < target_; ++i) add_worker();
  std::vector<std::shared_ptr<worker_link>> first;
  {
    std::lock_guard lk(mu_);
    first = links_;
  }
  std::string failure;
  for (auto& l : first) {
    l->said_hello.wait();  // the reader sets it at hello, or when the worker is gone
    std::lock_guard lk(mu_);
    if (l->now == worker_link::phase::gone && failure.empty())
      failure = "worker " + std::to_string(l->pid) + " ended before it said hello";
  }
  if (first.size() < target_ && failure.empty()) failure = "a worker process could not be started (see the log)";
  if (!failure.empty()) {
    terminate();
    throw error("fiberpool: process_pool '" + opts_.name + "' did not start: " + failure +
                ". Does main() call fiberpool::run_if_worker(argc, argv) first, after registering the tasks?");
  }
  parent_.start();
}

void process_core::stop() {
  parent_.stop();
  let_workers_go(false);
  wait_workers_gone(std::nullopt);
}

bool process_core::stop_for(clock::duration grace) {
  const auto until = clock::now() + grace;
  bool all = parent_.stop_for(grace);
  let_workers_go(false);
  auto left = std::max(clock::duration::zero(), until - clock::now());
  if (!wait_workers_gone(left + opts_.kill_grace)) {
    let_workers_go(true);
    wait_workers_gone(std::nullopt);
    all = false;
  }
  return all;
}

void process_core::terminate() {
  parent_.terminate();
  let_workers_go(true);
  wait_workers_gone(std::nullopt);
}

void process_core::restart() {
  if (parent_.state() != pool_state::running)
    throw error("fiberpool: process_pool '" + opts_.name + "' can only restart while running");
  std::size_t old = 0;
  {
    std::lock_guard lk(mu_);
    for (auto& l : links_)
      if (l->now == worker_link::phase::ready || l->now == worker_link::phase::starting) {
        let_go(*l);
        ++old;
      }
    replaced_ += old;
  }
  // The old ones finish their jobs and exit; the new ones start here, and this returns once they
  // said hello.
  for (std::size_t i = 0; i < old; ++i) add_worker();
  std::vector<std::shared_ptr<worker_link>> fresh;
  {
    std::lock_guard lk(mu_);
    for (auto& l : links_)
      if (l->now == worker_link::phase::starting) fresh.push_back(l);
  }
  for (auto& l : fresh) l->said_hello.wait();
}

void process_core::register_with_event_loop(event_loop& loop) {
  {
    std::lock_guard lk(mu_);
    if (started_)
      throw error("fiberpool: register_with_event_loop() on process_pool '" + opts_.name +
                  "', which was already started; register before start()");
  }
  // Every fiber of ours (readers, writers, kill deadlines, the jobs' waits) lives on the parent
  // pool's runtime, which from here on is hosted on the loop's thread.
  parent_.register_with_event_loop(loop);
}

bool process_core::did_start_ok() const {
  if (!parent_.did_start_ok()) return false;
  std::lock_guard lk(mu_);
  std::size_t ready = 0;
  for (auto& l : links_) ready += l->now == worker_link::phase::ready;
  return ready >= target_;
}

void process_core::let_workers_go(bool kill) {
  std::vector<std::shared_ptr<worker_link>> wake;
  {
    std::lock_guard lk(mu_);
    letting_go_ = true;
    killing_all_ = killing_all_ || kill;
    letting_go_now_.set();
    for (auto& l : links_) {
      if (l->now == worker_link::phase::gone) continue;
      if (kill) signal_worker(*l, SIGKILL);
      else if (l->now != worker_link::phase::retiring) let_go(*l);
      wake.push_back(l);
    }
    if (links_.empty()) workers_gone_.set();
  }
  for (auto& l : wake) l->outbox_ready.set();
}

bool process_core::wait_workers_gone(std::optional<clock::duration> within) {
  {
    std::lock_guard lk(mu_);
    if (!letting_go_) return true;
    if (links_.empty()) return true;
  }
  if (!within) {
    workers_gone_.wait();
    return true;
  }
  return workers_gone_.wait_for(*within);
}

// --- size ---

void process_core::grow(std::size_t n) {
  bool started;
  {
    std::lock_guard lk(mu_);
    target_ += n;
    started = started_;
  }
  parent_.grow(n * opts_.jobs_per_process);
  if (started) for (std::size_t i = 0; i < n; ++i) add_worker();
}

void process_core::shrink(std::size_t n) {
  {
    std::lock_guard lk(mu_);
    n = std::min(n, target_);
    target_ -= n;
  }
  parent_.shrink(n * opts_.jobs_per_process);  // not under mu_: it emits pool_resized
  std::lock_guard lk(mu_);
  // The least busy go first; they finish their jobs and exit.
  std::vector<worker_link*> candidates;
  for (auto& l : links_)
    if (l->now == worker_link::phase::ready || l->now == worker_link::phase::starting) candidates.push_back(l.get());
  std::sort(candidates.begin(), candidates.end(), [](auto* a, auto* b) { return a->busy < b->busy; });
  for (std::size_t i = 0; i < candidates.size() && keeping() > target_; ++i) let_go(*candidates[i]);
}

void process_core::resize(std::size_t processes) {
  const std::size_t now = num_processes();
  if (processes > now) grow(processes - now);
  else if (processes < now) shrink(now - processes);
}

std::size_t process_core::num_processes() const {
  std::lock_guard lk(mu_);
  return target_;
}

std::size_t process_core::keeping() const {
  std::size_t n = 0;
  for (auto& l : links_) n += l->now == worker_link::phase::ready || l->now == worker_link::phase::starting;
  return n;
}

// --- introspection ---

pool_info process_core::info() const {
  pool_info i = const_cast<task_pool&>(parent_).info();
  std::lock_guard lk(mu_);
  i.workers_replaced = replaced_;
  i.workers_lost = lost_;
  return i;
}

pool_stats process_core::stats() const {
  pool_stats s = const_cast<task_pool&>(parent_).stats();
  s.info = info();
  return s;
}

std::vector<job_info> process_core::jobs() const {
  auto out = const_cast<task_pool&>(parent_).jobs();
  std::lock_guard lk(mu_);
  for (auto& j : out)
    if (auto it = job_pids_.find(j.id); it != job_pids_.end()) j.worker_pid = it->second;
  return out;
}

std::vector<int> process_core::worker_pids() const {
  std::lock_guard lk(mu_);
  std::vector<int> out;
  for (auto& l : links_)
    if (l->now != worker_link::phase::gone) out.push_back(l->pid);
  return out;
}

void process_core::check_apply(std::string_view task, std::size_t payload) const {
  if (!find_task(task))
    throw std::invalid_argument("fiberpool: process_pool '" + opts_.name + "' has no task named '" + std::string(task) +
                                "'; register it with fiberpool::register_task() in every process, before "
                                "run_if_worker()");
  if (payload > opts_.max_payload)
    throw std::invalid_argument("fiberpool: a payload of " + std::to_string(payload) + " bytes is above process_pool '" +
                                opts_.name + "' max_payload of " + std::to_string(opts_.max_payload) +
                                "; raise max_payload or send less");
}
}  // namespace fiberpool::detail
