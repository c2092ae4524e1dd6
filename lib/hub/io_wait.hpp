// io_wait: waiting for an fd in a fiber (through the runtime's poller) or on a plain thread.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>

#include <fiberpool/types.hpp>

#include "hub/io_poller.hpp"

namespace fiberpool::hub {

// wait_registered: waits on a registration of `poller` for `dir`. Throws timed_out at the
// deadline (with `what` in the message), io_error(EBADF) if the registration was removed (the
// fd was closed by another fiber), and the job's kill if it is cancelled. Returns when the fd may
// be ready: the caller retries its system call.
void wait_registered(io_poller& poller, std::uint64_t token, int fd, direction dir,
                     std::optional<clock::time_point> deadline, const std::string& what);

// wait_persistent: for `dir` on fd, through the calling runtime's poller, keeping the fd
// registered between waits (registering on first use, or again if the caller moved to another
// runtime: `registration` and `poller_slot` hold it), or with poll(2) on a plain thread. `doing`
// names the wait in errors ("reading").
void wait_persistent(int fd, std::uint64_t& registration, std::shared_ptr<void>& poller_slot, direction dir,
                     std::optional<clock::time_point> deadline, const char* doing);

// unregister: ends what wait_persistent registered (a fiber still waiting wakes with EBADF).
void unregister(int fd, std::uint64_t& registration, std::shared_ptr<void>& poller_slot) noexcept;

// wait_on_thread: the same with poll(2), blocking the calling thread (no runtime to harvest).
void wait_on_thread(int fd, direction dir, std::optional<clock::time_point> deadline, const std::string& what);

}  // namespace fiberpool::hub
