// options_check: concurrency_settings::validate and the checks of autoscaled_options.
#include <fiberpool/autoscaled_pool.hpp>

#include <cmath>
#include <stdexcept>
#include <string>

#include <spdlog/fmt/fmt.h>  // fmt, bundled or external, as spdlog was built

#include "autoscale/options_check.hpp"

namespace fiberpool {

void concurrency_settings::validate() const {
  if (min < 1)
    throw std::invalid_argument(
        "fiberpool: concurrency_settings::min is 0; make it at least 1 (a pool that may run no task never finishes)");
  if (max < min)
    throw std::invalid_argument(fmt::format(
        "fiberpool: concurrency_settings::max ({}) is below min ({}); raise max or lower min", max, min));
  if (desired < min || desired > max)
    throw std::invalid_argument(fmt::format(
        "fiberpool: concurrency_settings::desired ({}) is outside [min, max] = [{}, {}]; pick a value in that range",
        desired, min, max));
  if (!(max_tasks_per_minute > 0))
    throw std::invalid_argument(fmt::format(
        "fiberpool: concurrency_settings::max_tasks_per_minute ({}) must be above 0; use "
        "std::numeric_limits<double>::infinity() for no limit",
        max_tasks_per_minute));
}

}  // namespace fiberpool

namespace fiberpool::detail {

namespace {

void require_function(bool present, const char* name, const char* what) {
  if (!present)
    throw std::invalid_argument(std::string("fiberpool: autoscaled_options::") + name + " is empty; give it " + what);
}

void require_positive(clock::duration d, const char* name) {
  if (d <= clock::duration::zero())
    throw std::invalid_argument(std::string("fiberpool: autoscaled_options::") + name +
                                " must be longer than zero; give it a positive duration");
}

void require_ratio(double v, const char* name, bool at_most_one) {
  if (!(v > 0) || !std::isfinite(v) || (at_most_one && v > 1))
    throw std::invalid_argument(std::string("fiberpool: autoscaled_options::") + name + " must be " +
                                (at_most_one ? "in (0, 1]" : "above 0 and finite") + "; it is a share of the desired "
                                "concurrency, not a percentage");
}

}  // namespace

void check(const autoscaled_options& o) {
  require_function(static_cast<bool>(o.run_task), "run_task", "the function that does one unit of work");
  require_function(static_cast<bool>(o.is_task_ready), "is_task_ready",
                   "a function that says whether there is work for one more task");
  require_function(static_cast<bool>(o.is_finished), "is_finished",
                   "a function that says whether all the work is done");
  o.concurrency.validate();
  require_positive(o.autoscale_interval, "autoscale_interval");
  require_positive(o.maybe_run_interval, "maybe_run_interval");
  require_positive(o.logging_interval, "logging_interval");
  require_ratio(o.scale_up_step_ratio, "scale_up_step_ratio", false);
  require_ratio(o.scale_down_step_ratio, "scale_down_step_ratio", false);
  require_ratio(o.desired_concurrency_ratio, "desired_concurrency_ratio", true);
}

}  // namespace fiberpool::detail
