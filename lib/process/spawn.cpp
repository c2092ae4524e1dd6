// spawn: posix_spawn of /proc/self/exe with the worker's socket on fd 3.
#include "process/spawn.hpp"

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <string>
#include <system_error>
#include <utility>
#include <vector>

#include "process/task_registry.hpp"

extern char** environ;

namespace fiberpool::detail {
namespace {

[[noreturn]] void fail(int err, const char* what) { throw std::system_error(err, std::generic_category(), what); }

struct fd_guard {
  int fd = -1;
  ~fd_guard() { if (fd >= 0) ::close(fd); }
  int release() { return std::exchange(fd, -1); }
};

}  // namespace

spawned spawn_worker(std::size_t jobs_per_process, bool report_rss, std::size_t max_result) {
  int pair[2];
  if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, pair) != 0)
    fail(errno, "fiberpool: socketpair() for a worker process");
  fd_guard parent_end{pair[0]}, child_end{pair[1]};

  // The child's environment: ours, less any worker variable we inherited, plus its own.
  std::vector<std::string> env_store;
  for (char** e = environ; *e; ++e)
    if (std::strncmp(*e, worker_env, std::strlen(worker_env)) != 0 || (*e)[std::strlen(worker_env)] != '=')
      env_store.emplace_back(*e);
  env_store.push_back(std::string(worker_env) + "=" + std::to_string(worker_fd) + ":" +
                      std::to_string(jobs_per_process) + ":" + (report_rss ? "1" : "0") + ":" +
                      std::to_string(max_result));
  std::vector<char*> envp;
  for (auto& s : env_store) envp.push_back(s.data());
  envp.push_back(nullptr);
  std::vector<std::string> args = program_argv();
  std::vector<char*> argv;
  for (auto& s : args) argv.push_back(s.data());
  argv.push_back(nullptr);

  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  // dup2 onto fd 3 clears close-on-exec there; every other descriptor of ours is close-on-exec
  // (fiberpool's are; a user's that is not would leak into workers, as with any exec).
  posix_spawn_file_actions_adddup2(&actions, child_end.fd, worker_fd);
  posix_spawnattr_t attr;
  posix_spawnattr_init(&attr);
  sigset_t none, all_default;
  sigemptyset(&none);
  sigemptyset(&all_default);
  for (int s : {SIGPIPE, SIGCHLD, SIGINT, SIGTERM, SIGHUP, SIGUSR1, SIGUSR2}) sigaddset(&all_default, s);
  posix_spawnattr_setsigmask(&attr, &none);
  posix_spawnattr_setsigdefault(&attr, &all_default);
  posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
  pid_t pid = -1;
  int rc = ::posix_spawn(&pid, "/proc/self/exe", &actions, &attr, argv.data(), envp.data());
  posix_spawn_file_actions_destroy(&actions);
  posix_spawnattr_destroy(&attr);
  if (rc != 0) fail(rc, "fiberpool: posix_spawn(/proc/self/exe) of a worker process");

  int pidfd = static_cast<int>(::syscall(SYS_pidfd_open, pid, 0));
  if (pidfd < 0) {
    int err = errno;
    ::kill(pid, SIGKILL);
    ::waitpid(pid, nullptr, 0);
    fail(err, "fiberpool: pidfd_open() of a worker process (Linux 5.3 or later is needed)");
  }
  ::fcntl(pidfd, F_SETFD, FD_CLOEXEC);
  int fl = ::fcntl(parent_end.fd, F_GETFL);
  ::fcntl(parent_end.fd, F_SETFL, fl | O_NONBLOCK);
  return spawned{pid, pidfd, parent_end.release()};
}

std::string exit_text(int status) {
  if (WIFEXITED(status)) return "exited with code " + std::to_string(WEXITSTATUS(status));
  if (WIFSIGNALED(status)) {
    int sig = WTERMSIG(status);
    const char* name = ::strsignal(sig);
    return "was killed by signal " + std::to_string(sig) + (name ? std::string(" (") + name + ")" : std::string());
  }
  if (status == unknown_wait_status)
    return "ended, how is unknown: SIGCHLD is set to SIG_IGN in this process, so the kernel reaped it "
           "(restore SIGCHLD's default action to see workers' exit codes and signals)";
  return "ended with wait status " + std::to_string(status);
}

}  // namespace fiberpool::detail
