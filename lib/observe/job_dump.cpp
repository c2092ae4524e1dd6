// dump_jobs: Go's goroutine dump for fiberpool: every live job of every live pool, one block per job.
#include <fiberpool/metrics.hpp>

#include <string>
#include <vector>

#include <spdlog/fmt/fmt.h>

#include "observe/humanize.hpp"
#include "pool/pool_core.hpp"

namespace fiberpool {
namespace {

void write_job(std::string& out, const job_info& j, clock::time_point now) {
  out += fmt::format("job {}", j.id);
  if (!j.name.empty()) out += fmt::format(" \"{}\"", j.name);
  if (!j.group.empty()) out += fmt::format(" group \"{}\"", j.group);
  out += fmt::format(": {}", to_string(j.state));
  if (j.started_at) {
    out += fmt::format(" on thread {} for {}", j.thread, observe::humanize(now - *j.started_at));
    if (j.worker_pid) out += fmt::format(" in worker pid {}", j.worker_pid);
  }
  if (j.kill_pending) out += ", kill pending";
  out += '\n';
  if (!j.waiting_on.empty()) {
    out += fmt::format("    waiting on {} for {}", j.waiting_on, observe::humanize(now - j.waiting_since.value_or(now)));
    if (j.waiting_until) out += fmt::format(", deadline in {}", observe::humanize(*j.waiting_until - now));
    out += '\n';
  } else if (j.started_at) {
    out += "    runnable (running, or ready to run)\n";
  }
  if (j.stalled_for)
    out += fmt::format("    STALLED: has held thread {} for {} without reaching a switch point\n", j.thread,
                       observe::humanize(*j.stalled_for));
}

}  // namespace

std::string dump_jobs() {
  struct pool_dump {
    pool_info info;
    std::vector<job_info> jobs;
  };
  std::vector<pool_dump> pools;
  detail::pool_core::for_each_live([&](detail::pool_core& p) { pools.push_back({p.info(), p.facade() ? p.facade()->jobs() : p.jobs()}); });
  const auto now = clock::now();
  std::string out;
  std::size_t total = 0;
  for (const auto& p : pools) total += p.jobs.size();
  out += fmt::format("fiberpool: {} live job{} in {} pool{}\n", total, total == 1 ? "" : "s", pools.size(),
                     pools.size() == 1 ? "" : "s");
  for (const auto& p : pools) {
    const auto& i = p.info;
    out += fmt::format("\npool \"{}\": {}, limit {}, {} running, {} queued, {} thread{}\n", i.name, to_string(i.state),
                       i.limit, i.running, i.waiting, i.threads, i.threads == 1 ? "" : "s");
    for (const auto& j : p.jobs) write_job(out, j, now);
  }
  return out;
}

}  // namespace fiberpool
