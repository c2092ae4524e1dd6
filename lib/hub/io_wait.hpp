// io_wait: waiting for an fd in a fiber (through the runtime's poller) or on a plain thread.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include <fiberpool/types.hpp>

#include "hub/io_poller.hpp"

namespace fiberpool::hub {

// wait_registered: waits on a registration of `poller` for `dir`. Throws timed_out at the
// deadline (with `what` in the message), io_error(EBADF) if the registration was removed (the
// fd was closed by another fiber), and the job's kill if it is cancelled. Returns when the fd may
// be ready: the caller retries its system call.
void wait_registered(io_poller& poller, std::uint64_t token, direction dir,
                     std::optional<clock::time_point> deadline, const std::string& what);

// wait_on_thread: the same with poll(2), blocking the calling thread (no runtime to harvest).
void wait_on_thread(int fd, direction dir, std::optional<clock::time_point> deadline, const std::string& what);

}  // namespace fiberpool::hub
