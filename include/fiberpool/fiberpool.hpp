// The umbrella header: everything in fiberpool's public API.
#pragma once

#include <fiberpool/autoscaled_pool.hpp>
#include <fiberpool/control.hpp>
#include <fiberpool/diagnostics.hpp>
#include <fiberpool/errors.hpp>
#include <fiberpool/event_loop.hpp>
#include <fiberpool/io.hpp>
#include <fiberpool/job.hpp>
#include <fiberpool/job_local.hpp>
#include <fiberpool/log.hpp>
#include <fiberpool/metrics.hpp>
#include <fiberpool/metrics_http.hpp>
#include <fiberpool/options.hpp>
#include <fiberpool/process_pool.hpp>
#include <fiberpool/result_stream.hpp>
#include <fiberpool/runtime.hpp>
#include <fiberpool/serve.hpp>
#include <fiberpool/signals.hpp>
#include <fiberpool/simple_task_pool.hpp>
#include <fiberpool/sync.hpp>
#include <fiberpool/system_status.hpp>
#include <fiberpool/task_pool.hpp>
#include <fiberpool/this_job.hpp>
#include <fiberpool/timer.hpp>
#include <fiberpool/types.hpp>
