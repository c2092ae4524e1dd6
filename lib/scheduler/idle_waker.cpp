// idle_waker: epoll_pwait2 (nanosecond deadlines) with an epoll_wait fallback for older kernels.
#include "scheduler/idle_waker.hpp"

#include <cerrno>
#include <ctime>
#include <system_error>

#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

namespace fiberpool::scheduler {
namespace {

using std::chrono::steady_clock;

// Cleared the first time the kernel says epoll_pwait2 does not exist (Linux < 5.11).
std::atomic<bool> have_pwait2{true};

int wait_events(int epfd, epoll_event* ev, int max, steady_clock::time_point deadline) noexcept {
  if (deadline == steady_clock::time_point::max()) return ::epoll_wait(epfd, ev, max, -1);
  auto left = deadline - steady_clock::now();
  if (left <= steady_clock::duration::zero()) return ::epoll_wait(epfd, ev, max, 0);
  if (have_pwait2.load(std::memory_order_relaxed)) {
    auto ns = std::chrono::duration_cast<std::chrono::nanoseconds>(left).count();
    timespec ts{static_cast<time_t>(ns / 1'000'000'000), static_cast<long>(ns % 1'000'000'000)};
    int n = ::epoll_pwait2(epfd, ev, max, &ts, nullptr);
    if (n >= 0 || errno != ENOSYS) return n;
    have_pwait2.store(false, std::memory_order_relaxed);
  }
  // Round up: waking a little late is harmless, waking early just costs another loop.
  auto ms = std::chrono::ceil<std::chrono::milliseconds>(left).count();
  return ::epoll_wait(epfd, ev, max, static_cast<int>(ms > 1'000'000'000 ? 1'000'000'000 : ms));
}

}  // namespace

idle_waker::idle_waker() {
  epfd_ = ::epoll_create1(EPOLL_CLOEXEC);
  if (epfd_ < 0) throw std::system_error(errno, std::generic_category(), "fiberpool: epoll_create1");
  evfd_ = ::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  if (evfd_ < 0) {
    int e = errno;
    ::close(epfd_);
    throw std::system_error(e, std::generic_category(), "fiberpool: eventfd");
  }
  epoll_event ev{};
  ev.events = EPOLLIN;
  ev.data.ptr = nullptr;  // null marks the wake eventfd
  if (::epoll_ctl(epfd_, EPOLL_CTL_ADD, evfd_, &ev) != 0) {
    int e = errno;
    ::close(evfd_);
    ::close(epfd_);
    throw std::system_error(e, std::generic_category(), "fiberpool: epoll_ctl");
  }
}

idle_waker::~idle_waker() {
  ::close(evfd_);
  ::close(epfd_);
}

void idle_waker::watch(int fd) {
  epoll_event ev{};
  // Not EPOLLEXCLUSIVE: the kernel refuses it for an epoll fd. Every idle thread of the runtime
  // wakes; the first to poll harvests the events, the others find none and sleep again.
  ev.events = EPOLLIN;
  ev.data.ptr = this;  // non-null: not the wake eventfd
  if (::epoll_ctl(epfd_, EPOLL_CTL_ADD, fd, &ev) != 0)
    throw std::system_error(errno, std::generic_category(), "fiberpool: epoll_ctl(watch)");
}

void idle_waker::unwatch(int fd) noexcept { ::epoll_ctl(epfd_, EPOLL_CTL_DEL, fd, nullptr); }

bool idle_waker::wait_until(steady_clock::time_point deadline) noexcept {
  bool watched_ready = false;
  // Dekker with wake(): we announce the sleep, then look for a pending wake; wake() publishes the
  // wake, then looks for a sleeper. Both sides use seq_cst, so at least one sees the other.
  sleeping_.store(true, std::memory_order_seq_cst);
  if (!pending_.exchange(false, std::memory_order_seq_cst)) {
    epoll_event events[16];
    int n = wait_events(epfd_, events, 16, deadline);
    for (int i = 0; i < n; ++i) {
      if (events[i].data.ptr == nullptr) {
        // Drain, then allow the next write: a read takes every write at once.
        std::uint64_t count;
        [[maybe_unused]] auto r = ::read(evfd_, &count, sizeof count);
        written_.store(false, std::memory_order_seq_cst);
      } else {
        watched_ready = true;
      }
    }
    pending_.store(false, std::memory_order_seq_cst);
  }
  sleeping_.store(hosted_, std::memory_order_seq_cst);
  return watched_ready;
}

void idle_waker::host_awake() noexcept {
  sleeping_.store(false, std::memory_order_seq_cst);
  if (written_.load(std::memory_order_seq_cst)) {
    std::uint64_t count;
    [[maybe_unused]] auto r = ::read(evfd_, &count, sizeof count);
    written_.store(false, std::memory_order_seq_cst);
  }
  pending_.store(false, std::memory_order_seq_cst);
}

void idle_waker::host_asleep() noexcept {
  sleeping_.store(true, std::memory_order_seq_cst);
  // A wake that came while we ran saw us awake and wrote nothing: make the fd readable for it.
  if (pending_.load(std::memory_order_seq_cst) && !written_.exchange(true, std::memory_order_seq_cst)) {
    std::uint64_t one = 1;
    [[maybe_unused]] auto w = ::write(evfd_, &one, sizeof one);
  }
}

void idle_waker::wake() noexcept {
  pending_.store(true, std::memory_order_seq_cst);
  if (!sleeping_.load(std::memory_order_seq_cst)) return;  // awake: it checks pending_ before sleeping
  if (written_.exchange(true, std::memory_order_seq_cst)) return;
  std::uint64_t one = 1;
  [[maybe_unused]] auto w = ::write(evfd_, &one, sizeof one);
}
}  // namespace fiberpool::scheduler
