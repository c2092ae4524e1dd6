// spawn: starting one worker process, safely from a threaded program.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

namespace fiberpool::detail {

// The environment variable that makes a process a worker: "<fd>:<jobs>:<report rss>:<max result>".
inline constexpr const char* worker_env = "FIBERPOOL_WORKER";
// The worker's end of its socket, in the worker.
inline constexpr int worker_fd = 3;

struct spawned {
  int pid = -1;
  int pidfd = -1;   // readable once the process exits (pidfd_open)
  int socket = -1;  // the parent's end, non-blocking, close-on-exec
};

// spawn_worker: re-executes this program (/proc/self/exe, with the argv run_if_worker saw) as a
// worker serving a socketpair. posix_spawn (clone + exec, nothing run in between that could take a
// lock) instead of fork(): the parent has threads. Throws std::system_error.
spawned spawn_worker(std::size_t jobs_per_process, bool report_rss, std::size_t max_result);

// The wait status of a worker the kernel reaped before we could: SIGCHLD is set to SIG_IGN in
// this process. None of WIFEXITED, WIFSIGNALED, WIFSTOPPED holds for it.
inline constexpr int unknown_wait_status = -1;

// exit_text: "exited with code 3", "was killed by signal 9 (Killed)".
std::string exit_text(int wait_status);

}  // namespace fiberpool::detail
