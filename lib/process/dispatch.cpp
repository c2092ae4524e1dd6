// dispatch: a job of the parent pool takes a slot of a worker, sends its payload and waits for
// the end the worker reports, or for the worker's death.
#include <signal.h>
#include <sys/wait.h>

#include <spdlog/spdlog.h>

#include <fiberpool/this_job.hpp>

#include "process/process_core.hpp"
#include "process/spawn.hpp"

namespace fiberpool::detail {

bool process_core::accepting(const worker_link& l) const {
  return l.now == worker_link::phase::ready && l.busy < opts_.jobs_per_process &&
         (opts_.max_tasks_per_child == 0 || l.given < opts_.max_tasks_per_child);
}

std::shared_ptr<worker_link> process_core::free_link() const {
  std::shared_ptr<worker_link> best;
  for (auto& l : links_)
    if (accepting(*l) && (!best || l->busy < best->busy)) best = l;
  return best;
}

void process_core::hand_slots() {
  while (!waiters_.empty()) {
    auto l = free_link();
    if (!l) return;
    slot_waiter* w = waiters_.front();
    waiters_.pop_front();
    ++l->busy;
    ++l->given;
    w->link = std::move(l);
    w->handed.set();
  }
}

void process_core::give_back_slot(const std::shared_ptr<worker_link>& l) {
  if (l->now == worker_link::phase::gone) {  // on_gone took back every slot it had
    hand_slots();
    return;
  }
  --l->busy;
  // A worker that ran its share ends once its last job has: it is replaced then (on_gone).
  if (l->now == worker_link::phase::ready && opts_.max_tasks_per_child && l->given >= opts_.max_tasks_per_child &&
      l->busy == 0)
    retire(*l);
  hand_slots();
}

std::shared_ptr<worker_link> process_core::take_slot() {
  slot_waiter w;
  {
    std::lock_guard lk(mu_);
    if (waiters_.empty()) {
      if (auto l = free_link()) {
        ++l->busy;
        ++l->given;
        return l;
      }
    }
    waiters_.push_back(&w);
  }
  try {
    w.handed.wait();  // a worker is starting, or every slot is busy with killed jobs unwinding
  } catch (...) {
    std::lock_guard lk(mu_);
    if (w.link) give_back_slot(w.link);
    else waiters_.erase(std::find(waiters_.begin(), waiters_.end(), &w));
    throw;
  }
  return w.link;
}

std::string process_core::remote(const std::string& task, std::string_view payload,
                                 std::optional<clock::duration> soft) {
  const job_id id = this_job::id();
  bool requeued = false;
  for (;;) {
    auto link = take_slot();
    auto job = std::make_shared<in_flight>();
    {
      std::lock_guard lk(mu_);
      // Died, or was let go (shrink, restart, recycling) since the slot was handed: a worker past
      // its retire frame reads no more jobs.
      if (link->now != worker_link::phase::ready) {
        give_back_slot(link);
        continue;
      }
      frames::put_run(link->outbox, id, soft, task, payload);  // may throw: nothing recorded yet
      link->jobs.emplace(id, job);
      job_pids_[id] = link->pid;
    }
    link->outbox_ready.set();
    try {
      job->ended.wait();
    } catch (...) {
      // Killed here (terminate_job, the hard limit, terminate()): the worker kills the job at its
      // next cancellation point; if it has not reported the end within kill_grace, the worker
      // itself is killed. This job ends now either way; its slot stays taken until then.
      int signal = SIGTERM;
      try {
        throw;
      } catch (const job_terminated& kill) {
        signal = kill.signal();
      } catch (...) {
      }
      {
        std::lock_guard lk(mu_);
        job_pids_.erase(id);
        job->abandoned = true;
        if (link->now != worker_link::phase::gone && link->jobs.count(id)) {
          frames::put_kill(link->outbox, id, signal);
          arm_kill(link, id);
        }
      }
      link->outbox_ready.set();
      throw;
    }
    {
      std::lock_guard lk(mu_);
      job_pids_.erase(id);
    }
    if (job->lost) {
      std::string what = "fiberpool: the worker process running job " + std::to_string(id) + " (pid " +
                         std::to_string(link->pid) + ") " + exit_text(job->wait_status);
      if (opts_.requeue_on_worker_lost && !requeued) {
        requeued = true;
        SPDLOG_LOGGER_WARN(log_, "{}; running it once more on another worker (requeue_on_worker_lost)", what);
        continue;
      }
      const int st = job->wait_status;
      throw worker_lost(what, WIFEXITED(st) ? WEXITSTATUS(st) : -1, WIFSIGNALED(st) ? WTERMSIG(st) : 0);
    }
    if (job->how == frames::outcome::succeeded) return std::move(job->result);
    if (job->how == frames::outcome::failed) throw remote_error(std::move(job->type), job->text);
    // Killed in the worker though nobody here asked (the task raised job_terminated itself).
    throw remote_error("fiberpool::job_terminated", job->text);
  }
}

}  // namespace fiberpool::detail
