// loop_driver: poll_fd as a reader, next_deadline as a call_at, run_ready for both.
#include "runtime/loop_driver.hpp"

#include <spdlog/spdlog.h>

#include <fiberpool/errors.hpp>
#include <fiberpool/log.hpp>

#include "log/describe.hpp"
#include "runtime/runtime_core.hpp"

namespace fiberpool::detail {

loop_driver::loop_driver(event_loop& loop, fiberpool::runtime& rt, std::function<bool()> keep_going)
    : loop_(loop), rt_(rt), keep_going_(std::move(keep_going)), fd_(rt.poll_fd()),
      self_(std::make_shared<loop_driver*>(this)) {
  loop_.add_reader(fd_, [this] { pump(); });
  registered_ = true;
  arm();
}

loop_driver::~loop_driver() {
  *self_ = nullptr;
  leave();
}

void loop_driver::leave() noexcept {
  if (!registered_) return;
  registered_ = false;
  try {
    loop_.remove_reader(fd_);
  } catch (...) {
    SPDLOG_LOGGER_ERROR(fiberpool::logger(), "fiberpool: event_loop::remove_reader threw: {}",
                        describe(std::current_exception()));
  }
}

void loop_driver::pump() {
  if (!registered_) return;
  rt_.run_ready();
  if (keep_going_ && !keep_going_()) return leave();
  arm();
}

void loop_driver::arm() {
  auto next = rt_.next_deadline();
  if (!next || (armed_ && *armed_ <= *next)) return;  // nothing due, or an earlier call is pending
  armed_ = next;
  loop_.call_at(*next, [weak = std::weak_ptr<loop_driver*>(self_), at = *next] {
    auto alive = weak.lock();
    if (!alive || !*alive) return;
    loop_driver& d = **alive;
    if (d.armed_ == at) d.armed_.reset();
    d.pump();
  });
}

void runtime_core::drive_from(event_loop& loop, std::function<bool()> keep_going) {
  if (!hosted())
    throw error("fiberpool: runtime '" + opts_.name + "' has threads of its own; to drive it from an event loop, "
                "make it hosted (runtime_options::hosted)");
  if (driver_) {
    if (driven_by_ == &loop) return;  // another pool of this runtime, same loop: already driven
    throw error("fiberpool: runtime '" + opts_.name + "' is already driven by another event loop; a hosted "
                "runtime runs on one host loop, the one its first pool registered with");
  }
  driver_ = std::make_unique<loop_driver>(loop, owner_, std::move(keep_going));
  driven_by_ = &loop;
}

}  // namespace fiberpool::detail
