// process_core: the parent's side of a process_pool: its workers, and the jobs in flight to them.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include <fiberpool/process_pool.hpp>
#include <fiberpool/sync.hpp>
#include <fiberpool/task_pool.hpp>

#include "pool/pool_core.hpp"
#include "process/frames.hpp"

namespace fiberpool::detail {

// One job handed to a worker, until the worker reports its end or dies.
struct in_flight {
  fiberpool::event ended;
  frames::outcome how = frames::outcome::succeeded;
  std::string result, type, text;
  bool lost = false;    // the worker died first; wait_status says how
  bool abandoned = false;  // its job was killed and ended without waiting for the worker
  int wait_status = 0;
};

// The parent's side of one worker process. Three fibers of the parent's runtime serve it: a
// reader (frames in; at the end of the stream it reaps the process), a writer (the outbox out, so
// frames queued while a write waits go out in one batch) and an exit watcher (its pidfd).
struct worker_link {
  enum class phase { starting, ready, retiring, gone };
  int pid = -1, pidfd = -1, sock = -1;
  int write_sock = -1;  // a dup of sock: fiberpool's I/O waits take one waiter per descriptor
  phase now = phase::starting;
  bool hello_seen = false;
  std::size_t busy = 0;    // slots taken: jobs dispatched (or about to be) and not yet ended
  std::size_t given = 0;   // jobs dispatched over its life (max_tasks_per_child)
  std::unordered_map<std::uint64_t, std::shared_ptr<in_flight>> jobs;
  std::string outbox;
  fiberpool::event outbox_ready;
  fiberpool::event said_hello;  // also set when it is gone
  fiberpool::event gone;
  fiberpool::event exited;      // its pidfd turned readable (watch_exit)
  std::atomic<bool> killed_here{false};  // we sent it SIGKILL (and logged why)
  ~worker_link();
};

class process_core : public pool_facade {
 public:
  explicit process_core(process_pool_options opts);
  ~process_core();

  void start();
  void stop();
  bool stop_for(clock::duration grace);
  void terminate();
  void restart();
  bool did_start_ok() const;
  void register_with_event_loop(event_loop& loop);
  // pool_facade: also what the control socket calls on the inner pool.
  void grow(std::size_t n) override;
  void shrink(std::size_t n) override;
  void resize(std::size_t processes) override;
  std::size_t size() const override { return num_processes(); }
  std::size_t num_processes() const;
  pool_info info() const;
  std::vector<job_info> jobs() const override;
  pool_stats stats() const override;
  std::vector<int> worker_pids() const;

  // check_apply: std::invalid_argument for an unknown task or a payload above max_payload.
  void check_apply(std::string_view task, std::size_t payload) const;
  // remote: what a job of the parent pool runs: the task in a worker, its result or its error.
  std::string remote(const std::string& task, std::string_view payload, std::optional<clock::duration> soft);
  std::optional<clock::duration> soft_limit_of(const job_options& o) const {
    return o.soft_time_limit ? o.soft_time_limit : opts_.soft_time_limit;
  }

  const process_pool_options& opts() const { return opts_; }
  task_pool& parent() { return parent_; }

 private:
  struct slot_waiter {
    fiberpool::event handed;
    std::shared_ptr<worker_link> link;  // set with the slot when handed
  };

  std::shared_ptr<worker_link> take_slot();
  void give_back_slot(const std::shared_ptr<worker_link>& l);  // mu_ held
  std::shared_ptr<worker_link> free_link() const;                // mu_ held
  void hand_slots();                                             // mu_ held
  bool accepting(const worker_link& l) const;                    // mu_ held

  void add_worker();                       // spawns one and starts its fibers; logs a failure
  void let_go(worker_link& l);             // mu_ held: takes no more jobs, exits after these
  void retire(worker_link& l);             // mu_ held: let_go, and a replacement started
  void read_frames(std::shared_ptr<worker_link> l);
  void write_frames(std::shared_ptr<worker_link> l);
  void watch_exit(std::shared_ptr<worker_link> l);
  void on_frame(const std::shared_ptr<worker_link>& l, const frames::reader::frame& f);
  void on_gone(const std::shared_ptr<worker_link>& l, int wait_status);
  void arm_kill(const std::shared_ptr<worker_link>& l, std::uint64_t job);
  void run_service(std::function<void()> fn);  // a fiber of the parent's runtime, counted
  static void signal_worker(worker_link& l, int sig) noexcept;
  void let_workers_go(bool kill);          // after the parent pool stopped
  bool wait_workers_gone(std::optional<clock::duration> within);
  std::size_t keeping() const;             // mu_ held: links not retiring or gone

  process_pool_options opts_;
  std::shared_ptr<spdlog::logger> log_;
  mutable std::mutex mu_;
  std::vector<std::shared_ptr<worker_link>> links_;
  std::deque<slot_waiter*> waiters_;
  std::unordered_map<job_id, int> job_pids_;
  std::size_t target_ = 0;
  std::size_t replaced_ = 0, lost_ = 0;
  bool started_ = false;
  bool letting_go_ = false;                // stop/terminate: gone workers are not replaced
  bool killing_all_ = false;               // terminate: every worker is killed
  std::mutex services_mu_;
  std::size_t services_ = 0;               // fibers of ours alive (services_mu_)
  fiberpool::event services_done_;
  fiberpool::event workers_gone_;
  fiberpool::event letting_go_now_;        // set with letting_go_: ends back-off waits
  task_pool parent_;                       // last: destroyed first, while the rest is alive
};

}  // namespace fiberpool::detail
