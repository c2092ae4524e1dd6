// task_registry: the tasks worker processes run, by name (register_task), and the argv workers
// are started with (run_if_worker remembers it).
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include <fiberpool/process_pool.hpp>

namespace fiberpool::detail {

// find_task: the registered function, or null.
const task_fn* find_task(std::string_view name);

void remember_argv(int argc, char** argv);
// program_argv: what run_if_worker saw, else /proc/self/cmdline.
std::vector<std::string> program_argv();

}  // namespace fiberpool::detail
