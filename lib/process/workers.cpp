// workers: each worker process's three fibers in the parent (reader, writer, exit watcher), its
// hello, its jobs' ends, its death (its pidfd turns readable, its socket's stream ends) and its
// replacement.
#include <signal.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fcntl.h>

#include <cerrno>
#include <cstring>
#include <utility>
#include <vector>

#include <spdlog/spdlog.h>

#include <fiberpool/io.hpp>

#include "process/gather.hpp"
#include "process/process_core.hpp"
#include "process/spawn.hpp"

namespace fiberpool::detail {

void process_core::signal_worker(worker_link& l, int sig) noexcept {
  if (sig == SIGKILL) l.killed_here = true;
  // Through its pidfd, not its pid: once reaped, a pid may already name another process.
  ::syscall(SYS_pidfd_send_signal, l.pidfd, sig, nullptr, 0);
}

void process_core::run_service(std::function<void()> fn) {
  {
    std::lock_guard lk(services_mu_);  // not mu_: on_gone and retire start services holding it
    if (services_++ == 0) services_done_.clear();
  }
  parent_.runtime().post([this, fn = std::move(fn)] {
    try {
      fn();
    } catch (const std::exception& e) {
      SPDLOG_LOGGER_ERROR(log_, "fiberpool: process_pool '{}': {}", opts_.name, e.what());
    }
    std::lock_guard lk(services_mu_);
    if (--services_ == 0) services_done_.set();
  });
}

void process_core::add_worker() {
  {
    std::lock_guard lk(mu_);
    if (letting_go_) return;  // a replacement asked for before stop() or terminate()
  }
  spawned s;
  try {
    s = spawn_worker(opts_.jobs_per_process, opts_.max_memory_per_child != 0, opts_.max_payload);
  } catch (const std::exception& e) {
    SPDLOG_LOGGER_ERROR(log_, "fiberpool: process_pool '{}' could not start a worker: {}; trying again in 1 s",
                        opts_.name, e.what());
    run_service([this] {
      if (!letting_go_now_.wait_for(std::chrono::seconds(1))) add_worker();
    });
    return;
  }
  auto l = std::make_shared<worker_link>();
  l->pid = s.pid;
  l->pidfd = s.pidfd;
  l->sock = s.socket;
  l->write_sock = ::fcntl(s.socket, F_DUPFD_CLOEXEC, 0);
  if (l->write_sock < 0) {
    SPDLOG_LOGGER_ERROR(log_, "fiberpool: process_pool '{}' could not dup a worker's socket: {}", opts_.name,
                        std::strerror(errno));
    ::kill(s.pid, SIGKILL);
    while (::waitpid(s.pid, nullptr, 0) < 0 && errno == EINTR) {}
    ::close(s.pidfd);
    ::close(s.socket);
    return;
  }
  {
    std::lock_guard lk(mu_);
    links_.push_back(l);
    workers_gone_.clear();
    // stop() or terminate() began while it was being spawned: it leaves as soon as it is up.
    if (letting_go_) let_go(*l);
  }
  SPDLOG_LOGGER_DEBUG(log_, "fiberpool: process_pool '{}' started worker {}", opts_.name, l->pid);
  run_service([this, l] { read_frames(l); });
  run_service([this, l] { write_frames(l); });
  run_service([this, l] { watch_exit(l); });
}

void process_core::let_go(worker_link& l) {
  l.now = worker_link::phase::retiring;
  frames::put_retire(l.outbox);
  l.outbox_ready.set();
}

void process_core::retire(worker_link& l) {
  let_go(l);
  // Its replacement starts now, so the pool keeps its size while it finishes.
  if (!letting_go_ && keeping() < target_) {
    ++replaced_;
    run_service([this] { add_worker(); });
  }
}

void process_core::write_frames(std::shared_ptr<worker_link> l) {
  std::string out;
  io::fd_watch writable(l->write_sock);
  for (;;) {
    l->outbox_ready.wait();
    let_frames_gather([&] {
      std::lock_guard lk(mu_);
      return l->outbox.size();
    });
    {
      std::lock_guard lk(mu_);
      l->outbox_ready.clear();
      if (l->now == worker_link::phase::gone) return;
      out.swap(l->outbox);
    }
    for (std::size_t done = 0; done < out.size();) {
      ssize_t n = ::send(l->write_sock, out.data() + done, out.size() - done, MSG_NOSIGNAL | MSG_DONTWAIT);
      if (n > 0) {
        done += static_cast<std::size_t>(n);
      } else if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
        writable.wait_writable();
      } else if (n < 0 && errno == EINTR) {
        continue;
      } else {
        return;  // the worker is gone: its reader sees the end of the stream and reaps it
      }
    }
    out.clear();
  }
}

void process_core::read_frames(std::shared_ptr<worker_link> l) {
  frames::reader in(opts_.max_payload + frames::overhead);
  std::vector<char> buf(64 * 1024);
  io::fd_watch readable(l->sock);  // registered once, not around every wait
  const auto hello_by = clock::now() + opts_.start_timeout;
  for (;;) {
    ssize_t n = ::recv(l->sock, buf.data(), buf.size(), MSG_DONTWAIT);
    if (n > 0) {
      in.feed(std::string_view(buf.data(), static_cast<std::size_t>(n)));
      try {
        while (auto f = in.next()) on_frame(l, *f);
      } catch (const frames::malformed& e) {
        // Never trust a worker that breaks the protocol: kill it; its jobs end worker_lost.
        SPDLOG_LOGGER_ERROR(log_, "fiberpool: process_pool '{}' kills worker {}: {}", opts_.name, l->pid, e.what());
        signal_worker(*l, SIGKILL);
        break;
      }
      continue;
    }
    if (n == 0) break;
    if (errno == EINTR) continue;
    if (errno != EAGAIN && errno != EWOULDBLOCK) break;
    bool starting;
    {
      std::lock_guard lk(mu_);
      starting = !l->hello_seen;  // let go before its hello, it still has start_timeout to say it
    }
    try {
      readable.wait_readable(starting ? std::optional<clock::time_point>(hello_by) : std::nullopt);
    } catch (const timed_out&) {
      SPDLOG_LOGGER_ERROR(log_, "fiberpool: process_pool '{}': worker {} did not say hello within start_timeout; "
                          "killed. Does main() call fiberpool::run_if_worker(argc, argv) first?", opts_.name, l->pid);
      signal_worker(*l, SIGKILL);
      break;
    }
  }
  // The stream ended: the process has exited or is about to (watch_exit says when).
  l->exited.wait();
  int status = 0;
  pid_t reaped;
  while ((reaped = ::waitpid(l->pid, &status, 0)) < 0 && errno == EINTR) {}
  if (reaped < 0) status = unknown_wait_status;  // ECHILD: SIGCHLD is ignored, the kernel reaped it
  on_gone(l, status);
}

void process_core::watch_exit(std::shared_ptr<worker_link> l) {
  // The end of the socket's stream is not enough: a process the task forked without exec holds a
  // copy of the worker's end and keeps the stream open after the worker died. The pidfd says
  // when the worker itself exited; shutting our read side then lets the reader take what the
  // worker sent and see the stream end.
  io::wait_readable(l->pidfd);
  ::shutdown(l->sock, SHUT_RD);
  l->exited.set();
}

void process_core::on_frame(const std::shared_ptr<worker_link>& l, const frames::reader::frame& f) {
  if (f.what == frames::kind::hello) {
    if (frames::parse_hello(f.body) != l->pid) throw frames::malformed("fiberpool: a hello from another pid");
    {
      std::lock_guard lk(mu_);
      if (std::exchange(l->hello_seen, true)) throw frames::malformed("fiberpool: a second hello");
      // Let go before it was up (stop(), shrink()), it stays retiring: it takes no job.
      if (l->now == worker_link::phase::starting) l->now = worker_link::phase::ready;
      hand_slots();
    }
    l->said_hello.set();
    parent_.signals().worker_started.emit(l->pid);
    return;
  }
  if (f.what != frames::kind::done) throw frames::malformed("fiberpool: a worker sent a parent's frame");
  auto d = frames::parse_done(f.body);
  std::shared_ptr<in_flight> job;
  {
    std::lock_guard lk(mu_);
    auto it = l->jobs.find(d.job);
    if (it == l->jobs.end()) throw frames::malformed("fiberpool: the end of a job the worker was not given");
    job = std::move(it->second);
    l->jobs.erase(it);
    if (opts_.max_memory_per_child && d.rss > opts_.max_memory_per_child && l->now == worker_link::phase::ready) {
      SPDLOG_LOGGER_INFO(log_, "fiberpool: process_pool '{}': worker {} uses {} bytes, above max_memory_per_child; "
                         "replacing it", opts_.name, l->pid, d.rss);
      retire(*l);
    }
    give_back_slot(l);
  }
  job->how = d.how;
  if (d.how == frames::outcome::succeeded) job->result.assign(d.text);
  else job->text.assign(d.text);
  job->type.assign(d.type);
  job->ended.set();
}

void process_core::on_gone(const std::shared_ptr<worker_link>& l, int status) {
  std::vector<std::shared_ptr<in_flight>> lost;
  bool expected;
  bool was_starting;
  {
    std::lock_guard lk(mu_);
    was_starting = l->now == worker_link::phase::starting;
    for (auto& [id, job] : l->jobs)
      if (!job->abandoned) lost.push_back(job);
    // Expected: a worker let go that exited cleanly, or one terminate() killed with no job of
    // its own left (the killed jobs it held have ended already).
    const bool clean = (WIFEXITED(status) && WEXITSTATUS(status) == 0) || status == unknown_wait_status;
    expected = (l->now == worker_link::phase::retiring && l->jobs.empty() && clean) ||
               (killing_all_ && lost.empty());
    const bool replace = !letting_go_ && l->now != worker_link::phase::retiring;
    l->now = worker_link::phase::gone;
    l->jobs.clear();
    l->busy = 0;
    if (!expected) ++lost_;
    links_.erase(std::find(links_.begin(), links_.end(), l));
    if (replace && keeping() < target_ && started_) {
      ++replaced_;
      // A worker that died before its hello would die again at once: wait a little first.
      run_service([this, was_starting] {
        if (was_starting) letting_go_now_.wait_for(std::chrono::seconds(1));
        add_worker();
      });
    }
    if (links_.empty() && letting_go_) workers_gone_.set();
    hand_slots();
  }
  ::shutdown(l->write_sock, SHUT_RDWR);  // a writer waiting for room wakes and ends
  l->outbox_ready.set();                 // and one waiting for frames
  l->said_hello.set();
  l->gone.set();
  // One line per incident: a worker that took jobs with it is told by each job's own end (the
  // pool logs a failed job, and a requeue says so), which names this worker and how it ended; one
  // this pool killed was told when it was killed (why, at warning or error).
  if (!expected) {
    const std::string took =
        lost.empty() ? std::string() : "; its " + std::to_string(lost.size()) + " job(s) end worker_lost";
    if (lost.empty() && !l->killed_here.load())
      SPDLOG_LOGGER_WARN(log_, "fiberpool: process_pool '{}': worker {} {}", opts_.name, l->pid, exit_text(status));
    else
      SPDLOG_LOGGER_INFO(log_, "fiberpool: process_pool '{}': worker {} {}{}", opts_.name, l->pid, exit_text(status),
                         took);
  }
  for (auto& job : lost) {
    job->lost = true;
    job->wait_status = status;
    job->ended.set();
  }
  parent_.signals().worker_exited.emit(l->pid, status);
}

void process_core::arm_kill(const std::shared_ptr<worker_link>& l, std::uint64_t job) {
  // A fiber of ours, not the pool's Timer: stop() right after a kill must not cancel this.
  run_service([this, l, job] {
    if (l->gone.wait_for(opts_.kill_grace)) return;
    std::lock_guard lk(mu_);
    if (l->now == worker_link::phase::gone || !l->jobs.count(job)) return;
    SPDLOG_LOGGER_WARN(log_, "fiberpool: process_pool '{}': job {} did not unwind within kill_grace; killing its "
                       "worker {}", opts_.name, job, l->pid);
    signal_worker(*l, SIGKILL);
  });
}

}  // namespace fiberpool::detail
