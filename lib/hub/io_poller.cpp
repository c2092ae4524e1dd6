// io_poller: epoll registrations, their slots, and harvesting events into fiber wake-ups.
#include "hub/io_poller.hpp"

#include <cerrno>
#include <stdexcept>
#include <system_error>

#include <sys/epoll.h>
#include <unistd.h>

#include <fiberpool/detail/wait.hpp>

namespace fiberpool::hub {
namespace {

constexpr std::size_t max_chunks = 1 << 16;  // 16M registrations: far beyond any fd limit

std::uint64_t make_token(std::uint32_t index, std::uint32_t generation) noexcept {
  return (static_cast<std::uint64_t>(generation) << 32) | index;
}

[[gnu::tls_model("initial-exec")]] thread_local io_poller* tl_poller = nullptr;

}  // namespace

io_poller* io_poller::current() noexcept { return tl_poller; }
void io_poller::bind_this_thread(io_poller* p) noexcept { tl_poller = p; }

io_poller::io_poller() : chunk_index_(new std::atomic<slot*>[max_chunks]) {
  epfd_ = ::epoll_create1(EPOLL_CLOEXEC);
  if (epfd_ < 0) throw std::system_error(errno, std::generic_category(), "fiberpool: epoll_create1 (I/O poller)");
}

io_poller::~io_poller() { ::close(epfd_); }

io_poller::slot* io_poller::find(std::uint64_t token, std::uint32_t& generation) noexcept {
  auto index = static_cast<std::uint32_t>(token);
  generation = static_cast<std::uint32_t>(token >> 32);
  std::size_t chunk = index / chunk_slots;
  if (chunk >= chunk_count_.load(std::memory_order_acquire)) return nullptr;
  return &chunk_index_[chunk].load(std::memory_order_acquire)[index % chunk_slots];
}

std::uint64_t io_poller::add(int fd) {
  std::uint32_t index;
  {
    std::lock_guard lk(table_mu_);
    if (free_.empty()) {
      std::size_t n = chunks_.size();
      if (n == max_chunks) throw std::system_error(EMFILE, std::generic_category(), "fiberpool: I/O poller is full");
      chunks_.emplace_back(new slot[chunk_slots]);
      chunk_index_[n].store(chunks_.back().get(), std::memory_order_release);
      chunk_count_.store(n + 1, std::memory_order_release);
      for (std::size_t i = chunk_slots; i-- > 0;) free_.push_back(static_cast<std::uint32_t>(n * chunk_slots + i));
    }
    index = free_.back();
    free_.pop_back();
  }
  std::uint32_t unused;
  slot& s = *find(make_token(index, 0), unused);
  std::uint32_t generation;
  {
    std::lock_guard lk(s.mu);
    generation = s.generation;
    s.live = true;
    s.ready[0] = s.ready[1] = false;
  }
  std::uint64_t token = make_token(index, generation);
  epoll_event ev{};
  ev.events = EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET;
  ev.data.u64 = token;
  if (::epoll_ctl(epfd_, EPOLL_CTL_ADD, fd, &ev) != 0) {
    int err = errno;
    remove(-1, token);
    throw std::system_error(err, std::generic_category(), "fiberpool: epoll_ctl(ADD)");
  }
  registered_.fetch_add(1, std::memory_order_relaxed);
  return token;
}

void io_poller::remove(int fd, std::uint64_t token) noexcept {
  if (fd >= 0) {
    ::epoll_ctl(epfd_, EPOLL_CTL_DEL, fd, nullptr);
    registered_.fetch_sub(1, std::memory_order_relaxed);
  }
  std::uint32_t generation;
  slot* s = find(token, generation);
  if (!s) return;
  {
    std::lock_guard lk(s->mu);
    if (s->generation != generation) return;
    ++s->generation;  // events still in flight for the old token are dropped
    if (s->generation == 0) s->generation = 1;
    s->live = false;
    for (auto*& w : s->waiter)
      if (w) std::exchange(w, nullptr)->unpark();
  }
  std::lock_guard lk(table_mu_);
  free_.push_back(static_cast<std::uint32_t>(token));
}

io_poller::wait_result io_poller::wait(std::uint64_t token, int fd, direction dir,
                                       std::optional<clock::time_point> deadline) {
  std::uint32_t generation;
  slot* s = find(token, generation);
  auto d = static_cast<int>(dir);
  detail::parker p;
  {
    std::lock_guard lk(s->mu);
    if (s->generation != generation) return wait_result::removed;
    if (s->ready[d]) {
      s->ready[d] = false;
      return wait_result::ready;
    }
    if (s->waiter[d]) throw std::logic_error("fiberpool: another fiber is already waiting on this fd");
    s->waiter[d] = &p;
  }
  const detail::wait_reason why{dir == direction::read ? "read fd" : "write fd", nullptr,
                               static_cast<std::uint64_t>(fd), true};
  auto status = detail::park_cancellable(p, deadline, why);
  std::lock_guard lk(s->mu);
  if (s->generation != generation) return wait_result::removed;
  if (s->waiter[d] == &p) s->waiter[d] = nullptr;
  // Readiness wins over a timeout or a kill that raced with it, as with every fiberpool wait;
  // a kill is still raised at the caller's next cancellation point.
  if (s->ready[d]) {
    s->ready[d] = false;
    return wait_result::ready;
  }
  if (status == detail::wait_status::cancelled) return wait_result::cancelled;
  if (status == detail::wait_status::timed_out) return wait_result::timed_out;
  return wait_result::ready;  // woken without the flag: a spurious wake; the caller retries its call
}

void io_poller::poll() noexcept {
  epoll_event events[64];
  for (;;) {
    int n = ::epoll_wait(epfd_, events, 64, 0);
    if (n <= 0) return;
    for (int i = 0; i < n; ++i) {
      std::uint32_t generation;
      slot* s = find(events[i].data.u64, generation);
      if (!s) continue;
      std::uint32_t ev = events[i].events;
      bool readable = ev & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR);
      bool writable = ev & (EPOLLOUT | EPOLLHUP | EPOLLERR);
      std::lock_guard lk(s->mu);
      if (s->generation != generation || !s->live) continue;
      if (readable) s->ready[0] = true;
      if (writable) s->ready[1] = true;
      for (int d = 0; d < 2; ++d)
        if (s->ready[d] && s->waiter[d]) std::exchange(s->waiter[d], nullptr)->unpark();
    }
    if (n < 64) return;
  }
}

}  // namespace fiberpool::hub
