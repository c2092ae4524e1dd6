// lag_probe: scheduler lag, measured as how late a timer on the runtime fires.
#pragma once

#include <memory>
#include <mutex>

#include <fiberpool/timer.hpp>
#include <fiberpool/types.hpp>

#include "autoscale/status_sampler.hpp"

namespace fiberpool::detail {

// Arms one timer of `interval` at a time; when it fires, records how late it is and arms the next.
// A runtime whose fibers hog its threads runs the timer's callback late (it is a fiber too), which
// is what the tasks waiting to be scheduled feel.
class lag_probe : public std::enable_shared_from_this<lag_probe> {
 public:
  lag_probe(std::shared_ptr<status_sampler> sampler, clock::duration interval);
  // start: arms the first timer on t, which must outlive stop().
  void start(fiberpool::timer& t);
  // stop: no timer is armed again; call it before destroying the timer (whose clear() then drops
  // the one armed last).
  void stop();

 private:
  void arm();  // under mu_, with timer_ set
  void fired(clock::time_point due);

  std::shared_ptr<status_sampler> sampler_;
  const clock::duration interval_;
  std::mutex mu_;
  fiberpool::timer* timer_ = nullptr;  // null before start() and after stop()
};

}  // namespace fiberpool::detail
