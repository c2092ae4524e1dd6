// io_wait: io::wait_readable / wait_writable, io::fd_watch, and the waits tcp_stream retries its
// calls after.
#include "hub/io_wait.hpp"

#include <cerrno>
#include <chrono>

#include <stdexcept>
#include <string>
#include <utility>
#include <system_error>

#include <poll.h>

#include <fiberpool/detail/wait.hpp>
#include <fiberpool/errors.hpp>
#include <fiberpool/io.hpp>

namespace fiberpool::hub {
namespace {

const char* verb(direction dir) noexcept { return dir == direction::read ? "readable" : "writable"; }

// remove_on_exit: a one-off registration (wait_readable on a bare fd) lasts one wait.
struct one_off_registration {
  io_poller& poller;
  int fd;
  std::uint64_t token;
  ~one_off_registration() { poller.remove(fd, token); }
};

void wait_fd(int fd, direction dir, std::optional<clock::time_point> deadline) {
  if (fd < 0) throw std::invalid_argument("fiberpool: io::wait_" + std::string(verb(dir)) + "() needs an open fd");
  std::string what = "fd " + std::to_string(fd) + " to become " + verb(dir);
  io_poller* poller = io_poller::current();
  if (!poller) return wait_on_thread(fd, dir, deadline, what);
  std::uint64_t token;
  try {
    token = poller->add(fd);
  } catch (const std::system_error& e) {
    if (e.code().value() == EEXIST)
      throw io_error(EEXIST, "waiting for " + what + " (it is already registered, e.g. by a tcp_stream: "
                             "wait through that object instead)");
    throw io_error(e.code().value(), "waiting for " + what);
  }
  one_off_registration reg{*poller, fd, token};
  wait_registered(*poller, token, fd, dir, deadline, what);
}

}  // namespace

void wait_registered(io_poller& poller, std::uint64_t token, int fd, direction dir,
                     std::optional<clock::time_point> deadline, const std::string& what) {
  detail::raise_cancellation();
  for (;;) {
    switch (poller.wait(token, fd, dir, deadline)) {
      case io_poller::wait_result::ready:
        return;
      case io_poller::wait_result::timed_out:
        throw timed_out("fiberpool: timed out waiting for " + what);
      case io_poller::wait_result::removed:
        throw io_error(EBADF, "waiting for " + what + " (the fd was closed meanwhile)");
      case io_poller::wait_result::cancelled:
        detail::raise_cancellation();  // throws the kill; a stale request waits again
        break;
    }
  }
}

void wait_persistent(int fd, std::uint64_t& registration, std::shared_ptr<void>& poller_slot, direction dir,
                     std::optional<clock::time_point> deadline, const char* doing) {
  std::string what = std::string(doing) + " on fd " + std::to_string(fd);
  io_poller* poller = io_poller::current();
  if (!poller) return wait_on_thread(fd, dir, deadline, what);
  if (poller_slot.get() != poller) {
    unregister(fd, registration, poller_slot);
    try {
      registration = poller->add(fd);
    } catch (const std::system_error& e) {
      throw io_error(e.code().value(), "registering fd " + std::to_string(fd) + " for I/O");
    }
    poller_slot = poller->shared_from_this();
  }
  wait_registered(*poller, registration, fd, dir, deadline, what);
}

void unregister(int fd, std::uint64_t& registration, std::shared_ptr<void>& poller_slot) noexcept {
  if (poller_slot) static_cast<io_poller*>(poller_slot.get())->remove(fd, registration);
  poller_slot.reset();
  registration = 0;
}

void wait_on_thread(int fd, direction dir, std::optional<clock::time_point> deadline, const std::string& what) {
  pollfd p{fd, static_cast<short>(dir == direction::read ? POLLIN : POLLOUT), 0};
  for (;;) {
    int timeout_ms = -1;
    if (deadline) {
      auto left = std::chrono::ceil<std::chrono::milliseconds>(*deadline - clock::now()).count();
      timeout_ms = static_cast<int>(left < 0 ? 0 : (left > 1'000'000'000 ? 1'000'000'000 : left));
    }
    int n = ::poll(&p, 1, timeout_ms);
    if (n > 0) return;
    if (n == 0) throw timed_out("fiberpool: timed out waiting for " + what);
    if (errno != EINTR) throw io_error(errno, "waiting for " + what);
  }
}

}  // namespace fiberpool::hub

namespace fiberpool::io {

void wait_readable(int fd, std::optional<clock::time_point> deadline) {
  hub::wait_fd(fd, hub::direction::read, deadline);
}

void wait_writable(int fd, std::optional<clock::time_point> deadline) {
  hub::wait_fd(fd, hub::direction::write, deadline);
}

fd_watch::fd_watch(int fd) : fd_(fd) {
  if (fd < 0) throw std::invalid_argument("fiberpool: io::fd_watch needs an open fd");
}

fd_watch::fd_watch(fd_watch&& o) noexcept
    : fd_(std::exchange(o.fd_, -1)), registration_(std::exchange(o.registration_, 0)), poller_(std::move(o.poller_)) {}

fd_watch& fd_watch::operator=(fd_watch&& o) noexcept {
  if (this != &o) {
    release();
    fd_ = std::exchange(o.fd_, -1);
    registration_ = std::exchange(o.registration_, 0);
    poller_ = std::move(o.poller_);
  }
  return *this;
}

fd_watch::~fd_watch() { release(); }

void fd_watch::release() noexcept {
  if (fd_ >= 0) hub::unregister(fd_, registration_, poller_);
}

void fd_watch::wait_readable(std::optional<clock::time_point> deadline) {
  hub::wait_persistent(fd_, registration_, poller_, hub::direction::read, deadline, "waiting to read");
}

void fd_watch::wait_writable(std::optional<clock::time_point> deadline) {
  hub::wait_persistent(fd_, registration_, poller_, hub::direction::write, deadline, "waiting to write");
}

}  // namespace fiberpool::io
