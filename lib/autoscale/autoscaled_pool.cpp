// autoscaled_pool: the public facade over autoscale_core.
#include <fiberpool/autoscaled_pool.hpp>

#include "autoscale/autoscale_core.hpp"

namespace fiberpool {

autoscaled_pool::autoscaled_pool(autoscaled_options opts, pool_options pool)
    : core_(std::make_unique<detail::autoscale_core>(std::move(opts), std::move(pool))) {}

autoscaled_pool::~autoscaled_pool() = default;

void autoscaled_pool::run() { core_->run(); }
void autoscaled_pool::abort() { core_->abort(); }
void autoscaled_pool::pause() { core_->pause(); }
void autoscaled_pool::resume() { core_->resume(); }
bool autoscaled_pool::paused() const { return core_->paused(); }
std::size_t autoscaled_pool::current_concurrency() const { return core_->current(); }
std::size_t autoscaled_pool::desired_concurrency() const { return core_->desired(); }
concurrency_settings autoscaled_pool::concurrency() const { return core_->concurrency(); }
void autoscaled_pool::set_concurrency(concurrency_settings s) { core_->set_concurrency(s); }

}  // namespace fiberpool
