// worker_main: run_if_worker, and the life of a worker process: jobs from the parent's socket run
// as jobs of a task_pool of this process, and each job's end goes back as one frame, batched.
#include <fcntl.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <limits>
#include <memory>
#include <mutex>
#include <string>
#include <system_error>
#include <unordered_map>
#include <unordered_set>
#include <utility>
#include <vector>

#include <fiberpool/io.hpp>
#include <fiberpool/process_pool.hpp>
#include <fiberpool/sync.hpp>
#include <fiberpool/task_pool.hpp>

#include "log/describe.hpp"
#include "process/frames.hpp"
#include "process/gather.hpp"
#include "process/spawn.hpp"
#include "process/task_registry.hpp"

namespace fiberpool::detail {
namespace {

std::uint64_t resident_bytes() {
  std::ifstream statm("/proc/self/statm");
  std::uint64_t size = 0, resident = 0;
  statm >> size >> resident;
  return resident * static_cast<std::uint64_t>(::sysconf(_SC_PAGESIZE));
}

// to_parent: the socket's writing side, shared by every job's end. Frames queue in an outbox that
// one fiber of the worker's runtime writes out, so the ends of the jobs that ran since its last
// write leave in one send() (a send() per job would cost more than the job). A write that fails
// means the parent is gone: the worker has nobody left to serve.
class to_parent {
 public:
  // Its own descriptor: fiberpool's I/O takes one waiter per descriptor, and the reader has fd.
  explicit to_parent(int fd) : fd_(::fcntl(fd, F_DUPFD_CLOEXEC, 0)) {
    if (fd_ < 0) throw std::system_error(errno, std::generic_category(), "fiberpool: worker: dup of its socket");
  }
  ~to_parent() { ::close(fd_); }
  to_parent(const to_parent&) = delete;
  to_parent& operator=(const to_parent&) = delete;

  void send(std::string_view frame) {
    {
      std::lock_guard lk(mu_);
      outbox_.append(frame);
    }
    ready_.set();
  }
  // finish: write what is queued, then write_out() returns and drained() is set.
  void finish() {
    {
      std::lock_guard lk(mu_);
      closing_ = true;
    }
    ready_.set();
  }
  fiberpool::event& drained() { return drained_; }

  // write_out: the writer fiber.
  void write_out() {
    std::string batch;
    io::fd_watch writable(fd_);
    for (;;) {
      {
        // Cleared before the outbox is looked at, under the lock send() and finish() take: what
        // they add after this sets it again, and the wait below returns at once.
        std::lock_guard lk(mu_);
        ready_.clear();
        if (outbox_.empty() && closing_) break;
        batch.swap(outbox_);
      }
      if (batch.empty()) {
        ready_.wait();
        let_frames_gather([&] {
          std::lock_guard lk(mu_);
          return outbox_.size();
        });
        continue;
      }
      for (std::size_t done = 0; done < batch.size();) {
        ssize_t n = ::send(fd_, batch.data() + done, batch.size() - done, MSG_NOSIGNAL | MSG_DONTWAIT);
        if (n > 0) done += static_cast<std::size_t>(n);
        else if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) writable.wait_writable();
        else if (n < 0 && errno == EINTR) continue;
        else ::_exit(0);
      }
      batch.clear();
    }
    drained_.set();
  }

 private:
  int fd_;
  std::mutex mu_;
  std::string outbox_;
  bool closing_ = false;
  fiberpool::event ready_;
  fiberpool::event drained_;
};

// worker: one thread runs everything that touches jobs: the runtime's, where a reader fiber
// applies each job as its frame arrives (no wake-up of another thread per job) and a writer fiber
// sends their ends. The process's main thread only watches the socket for the parent's hang-up,
// so a parent that is gone ends the worker even while a job loops without a cancellation point.
class worker {
 public:
  worker(int fd, std::size_t jobs, bool report_rss, std::size_t max_result)
      : fd_(fd), report_rss_(report_rss), max_result_(max_result), out_(fd), pool_(pool_options_for(jobs)) {}

  int serve() {
    std::string hello;
    frames::put_hello(hello, static_cast<int>(::getpid()));
    out_.send(hello);
    pool_.start();
    pool_.runtime().post([this] { out_.write_out(); });
    pool_.runtime().post([this] { read_frames(); });
    for (;;) {
      // POLLRDHUP alone: frames arriving do not wake this thread, a hang-up does (the parent
      // closed its end or died), and so does our own shutdown of the reading side once retired.
      pollfd p{fd_, POLLRDHUP, 0};
      if (::poll(&p, 1, -1) < 0) {
        if (errno == EINTR) continue;
        ::_exit(1);
      }
      if (stopped_.load()) return 0;  // retired: every job ended and reported
      // The parent is gone: stop at once, whatever the jobs are doing, as a Celery child does.
      ::_exit(0);
    }
  }

 private:
  static pool_options pool_options_for(std::size_t jobs) {
    pool_options o;
    o.name = "worker";
    o.limit = jobs;
    o.threads = 1;
    o.log_failures = false;  // the parent has the job's end
    return o;
  }

  // read_frames: the reader fiber. It ends with the stream (the parent gone, or our reading side
  // shut after retiring); the main thread decides what that means.
  void read_frames() {
    frames::reader in(std::numeric_limits<std::uint32_t>::max());  // the parent is trusted
    std::vector<char> buf(64 * 1024);
    io::fd_watch readable(fd_);  // registered once, not around every wait
    for (;;) {
      ssize_t n = ::recv(fd_, buf.data(), buf.size(), MSG_DONTWAIT);
      if (n > 0) {
        in.feed(std::string_view(buf.data(), static_cast<std::size_t>(n)));
        while (auto f = in.next()) {
          if (f->what == frames::kind::retire) retire();
          else handle(*f);
        }
      } else if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
        readable.wait_readable();
      } else if (n < 0 && errno == EINTR) {
        continue;
      } else {
        return;
      }
    }
  }

  // retire: no more jobs; the ones running end and report while kill frames are still read (a
  // stop_for() or hard limit of the parent reaches them), then the reading side is shut.
  void retire() {
    if (std::exchange(retiring_, true)) return;
    pool_.close();
    pool_.runtime().post([this] {
      pool_.waitall();
      out_.finish();
      out_.drained().wait();
      stopped_ = true;
      ::shutdown(fd_, SHUT_RD);  // the reader sees the stream end, the main thread the hang-up
    });
  }

  void handle(const frames::reader::frame& f) {
    if (f.what == frames::kind::run) {
      start(frames::parse_run(f.body));
    } else if (f.what == frames::kind::kill) {
      auto k = frames::parse_kill(f.body);
      job_id local = 0;
      {
        std::lock_guard lk(mu_);
        if (auto it = local_ids_.find(k.job); it != local_ids_.end()) local = it->second;
      }
      if (local) pool_.terminate_job(local, k.signal);
    }
  }

  void start(const frames::run_frame& r) {
    const std::uint64_t id = r.job;
    const task_fn* fn = find_task(r.task);
    if (!fn) {
      std::string frame;
      frames::put_done(frame, id, frames::outcome::failed, 0, "fiberpool::error",
                       "no task named '" + std::string(r.task) + "' in the worker process: register every task in "
                       "every process of the program, before run_if_worker()");
      out_.send(frame);
      return;
    }
    auto result = std::make_shared<std::string>();
    job_options o;
    o.name = std::string(r.task);
    if (r.soft_limit) o.soft_time_limit = std::chrono::duration_cast<clock::duration>(*r.soft_limit);
    o.on_ended = [this, id, result](job_id, job_state end, std::exception_ptr e) {
      {
        std::lock_guard lk(mu_);
        if (!local_ids_.erase(id)) ended_early_.emplace(id);  // before apply() returned
      }
      const std::uint64_t rss = report_rss_ ? resident_bytes() : 0;
      std::string frame;
      if (end == job_state::succeeded)
        frames::put_done(frame, id, frames::outcome::succeeded, rss, {}, *result);
      else if (end == job_state::terminated)
        frames::put_done(frame, id, frames::outcome::killed, rss, {}, describe(e));
      else
        frames::put_done(frame, id, frames::outcome::failed, rss, type_name(e), describe(e));
      out_.send(frame);
    };
    auto j = pool_.apply(std::move(o), [fn, result, payload = std::string(r.payload), max = max_result_] {
      *result = (*fn)(payload);
      if (result->size() > max)
        throw fiberpool::error("the task's result of " + std::to_string(result->size()) +
                               " bytes is above the pool's max_payload of " + std::to_string(max) +
                               "; raise max_payload or return less");
    });
    // The job may have ended already: then there is nothing to kill.
    std::lock_guard lk(mu_);
    if (!ended_early_.erase(id)) local_ids_.emplace(id, j.id());
  }

  int fd_;
  bool report_rss_;
  std::size_t max_result_;
  std::atomic<bool> stopped_{false};
  bool retiring_ = false;  // the reader fiber's
  to_parent out_;
  std::mutex mu_;
  std::unordered_map<std::uint64_t, job_id> local_ids_;  // parent's job id -> ours, while running
  std::unordered_set<std::uint64_t> ended_early_;        // ended before apply() returned
  task_pool pool_;
};

}  // namespace
}  // namespace fiberpool::detail

namespace fiberpool {

std::optional<int> run_if_worker(int argc, char** argv) {
  const char* env = std::getenv(detail::worker_env);
  if (!env) {
    detail::remember_argv(argc, argv);
    return std::nullopt;
  }
  int fd = -1;
  std::size_t jobs = 1;
  int rss = 0;
  std::size_t max_result = 0;
  if (std::sscanf(env, "%d:%zu:%d:%zu", &fd, &jobs, &rss, &max_result) != 4 || fd < 0 || jobs == 0) {
    std::fprintf(stderr, "fiberpool: %s='%s' is not a worker's setting; unset it\n", detail::worker_env, env);
    return 2;
  }
  ::unsetenv(detail::worker_env);  // programs this worker starts are not workers
  ::fcntl(fd, F_SETFD, FD_CLOEXEC);
  detail::worker w(fd, jobs, rss != 0, max_result);
  return w.serve();
}

}  // namespace fiberpool
