// task_registry: register_task, and the program's argv for starting workers.
#include "process/task_registry.hpp"

#include <fstream>
#include <iterator>
#include <map>
#include <mutex>
#include <stdexcept>

namespace fiberpool::detail {
namespace {

struct registry {
  std::mutex mu;
  std::map<std::string, task_fn, std::less<>> tasks;
  std::vector<std::string> argv;
};

registry& the_registry() {
  static registry* r = new registry;  // never destroyed: workers may look tasks up during exit
  return *r;
}

}  // namespace

const task_fn* find_task(std::string_view name) {
  registry& r = the_registry();
  std::lock_guard lk(r.mu);
  auto it = r.tasks.find(name);
  return it == r.tasks.end() ? nullptr : &it->second;  // map nodes never move
}

void remember_argv(int argc, char** argv) {
  registry& r = the_registry();
  std::lock_guard lk(r.mu);
  r.argv.assign(argv, argv + argc);
}

std::vector<std::string> program_argv() {
  {
    registry& r = the_registry();
    std::lock_guard lk(r.mu);
    if (!r.argv.empty()) return r.argv;
  }
  std::ifstream in("/proc/self/cmdline", std::ios::binary);
  std::string all((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  std::vector<std::string> out;
  for (std::size_t start = 0; start < all.size();) {
    auto end = all.find('\0', start);
    if (end == std::string::npos) end = all.size();
    out.emplace_back(all, start, end - start);
    start = end + 1;
  }
  if (out.empty()) out.emplace_back("fiberpool-worker");
  return out;
}

}  // namespace fiberpool::detail

namespace fiberpool {

void register_task(std::string name, task_fn fn) {
  if (name.empty()) throw std::invalid_argument("fiberpool: register_task() needs a non-empty task name");
  if (!fn) throw std::invalid_argument("fiberpool: register_task('" + name + "') was given an empty function");
  auto& r = detail::the_registry();
  std::lock_guard lk(r.mu);
  if (!r.tasks.emplace(name, std::move(fn)).second)
    throw std::invalid_argument("fiberpool: a task named '" + name + "' is already registered; task names are "
                                "process-wide, pick another");
}

bool has_task(std::string_view name) { return detail::find_task(name) != nullptr; }

}  // namespace fiberpool
