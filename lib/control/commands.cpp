// commands: the control protocol. Every request is a JSON object with "cmd"; every reply an object
// with "ok". Parsing is Boost.JSON's, bounded in depth; every field is checked for its type and
// range before anything is done, so a bad request changes nothing.
#include "control/commands.hpp"

#include <chrono>
#include <cmath>
#include <csignal>
#include <cstdint>
#include <exception>
#include <map>
#include <optional>
#include <string>

#include <boost/json.hpp>

#include <unistd.h>

#include <fiberpool/errors.hpp>
#include <fiberpool/metrics.hpp>

#include "observe/pool_names.hpp"
#include "pool/pool_core.hpp"

namespace fiberpool::control {
namespace {

namespace json = boost::json;
using detail::pool_core;

// refused: a request the protocol answers with {"ok": false, "error": what}.
struct refused {
  std::string what;
};

constexpr std::uint64_t max_count = 1'000'000;  // grow/shrink/resize: more is a typo, not a plan

double seconds(clock::duration d) { return std::chrono::duration<double>(d).count(); }

json::object histogram_json(const histogram& h) {
  json::array le, counts;
  for (std::size_t i = 0; i < h.upper_bounds.size(); ++i) {
    // JSON has no infinity: the last bound is null.
    if (std::isinf(h.upper_bounds[i])) le.emplace_back(nullptr);
    else le.emplace_back(h.upper_bounds[i]);
    counts.emplace_back(h.counts[i]);
  }
  return {{"count", h.count}, {"sum", h.sum}, {"le", std::move(le)}, {"counts", std::move(counts)}};
}

json::object pool_json(const std::string& shown, const pool_stats& s) {
  const auto& i = s.info;
  return {{"pool", shown},
          {"state", std::string(to_string(i.state))},
          {"limit", i.limit},
          {"threads", i.threads},
          {"running", i.running},
          {"queued", i.waiting},
          {"succeeded", i.succeeded},
          {"failed", i.failed},
          {"terminated", i.terminated},
          {"cancelled", i.cancelled},
          {"groups", i.groups},
          {"applied", s.applied},
          {"started", s.started},
          {"inline_runs", s.inline_runs},
          {"rejected", s.rejected},
          {"queue_wait_seconds", histogram_json(s.queue_wait_seconds)},
          {"run_seconds", histogram_json(s.run_seconds)}};
}

json::object job_json(const std::string& pool, const job_info& j, clock::time_point now) {
  json::object o{{"pool", pool}, {"id", j.id}, {"name", j.name}, {"group", j.group},
                 {"state", std::string(to_string(j.state))}, {"thread", j.thread},
                 {"kill_pending", j.kill_pending}};
  if (j.started_at) o["age_seconds"] = seconds(now - *j.started_at);
  if (!j.waiting_on.empty()) {
    o["waiting_on"] = j.waiting_on;
    if (j.waiting_since) o["waiting_seconds"] = seconds(now - *j.waiting_since);
    if (j.waiting_until) o["deadline_in_seconds"] = seconds(*j.waiting_until - now);
  }
  if (j.stalled_for) o["stalled_seconds"] = seconds(*j.stalled_for);
  if (j.worker_pid) o["worker_pid"] = j.worker_pid;
  return o;
}

// The request's fields, checked.
const json::value* field(const json::object& req, std::string_view key) { return req.if_contains(key); }

std::string string_field(const json::object& req, std::string_view key) {
  const json::value* v = field(req, key);
  if (!v) throw refused{"missing \"" + std::string(key) + "\""};
  if (!v->is_string()) throw refused{"\"" + std::string(key) + "\" must be a string"};
  return std::string(v->get_string());
}

std::optional<std::string> optional_string(const json::object& req, std::string_view key) {
  if (!field(req, key) || field(req, key)->is_null()) return std::nullopt;
  return string_field(req, key);
}

std::uint64_t count_field(const json::object& req, std::string_view key, std::uint64_t most) {
  const json::value* v = field(req, key);
  if (!v) throw refused{"missing \"" + std::string(key) + "\""};
  std::uint64_t n;
  if (v->is_uint64()) n = v->get_uint64();
  else if (v->is_int64() && v->get_int64() >= 0) n = static_cast<std::uint64_t>(v->get_int64());
  else throw refused{"\"" + std::string(key) + "\" must be a whole number from 0 to " + std::to_string(most)};
  if (n > most) throw refused{"\"" + std::string(key) + "\" must be a whole number from 0 to " + std::to_string(most)};
  return n;
}

// with_pool: f(pool) for the live pool shown as `name`; refused if there is none.
template <class F>
void with_pool(const std::string& name, F&& f) {
  std::map<std::string, int> seen;
  bool found = false;
  pool_core::for_each_live([&](pool_core& p) {
    if (!found && observe::shown_name(seen, p.opts.name) == name) {
      found = true;
      f(p);
    }
  });
  if (!found) throw refused{"no pool named \"" + name + "\" (stats lists the pools)"};
}

// each_pool: f(shown name, pool) for every live pool, or only the one named.
template <class F>
void each_pool(const std::optional<std::string>& only, F&& f) {
  if (only) return with_pool(*only, [&](pool_core& p) { f(*only, p); });
  std::map<std::string, int> seen;
  pool_core::for_each_live([&](pool_core& p) { f(observe::shown_name(seen, p.opts.name), p); });
}

json::object run(const json::object& req, bool read_only) {
  const std::string cmd = string_field(req, "cmd");
  const bool changes = cmd == "grow" || cmd == "shrink" || cmd == "resize" || cmd == "terminate" ||
                       cmd == "cancel-group";
  if (changes && read_only) throw refused{"\"" + cmd + "\" changes the server, and this control socket is read-only"};

  if (cmd == "ping") return {{"ok", true}, {"reply", "pong"}, {"pid", static_cast<std::int64_t>(::getpid())}};
  if (cmd == "dump") return {{"ok", true}, {"dump", dump_jobs()}};
  if (cmd == "metrics") return {{"ok", true}, {"metrics", prometheus_text()}};
  if (cmd == "stats") {
    json::array pools;
    each_pool(optional_string(req, "pool"), [&](const std::string& shown, pool_core& p) {
      pools.emplace_back(pool_json(shown, p.facade() ? p.facade()->stats() : p.stats()));
    });
    return {{"ok", true}, {"pools", std::move(pools)}};
  }
  if (cmd == "inspect") {
    const std::string what = string_field(req, "what");
    if (what != "active" && what != "queued") throw refused{"\"what\" must be \"active\" or \"queued\""};
    const auto now = clock::now();
    json::array jobs;
    each_pool(optional_string(req, "pool"), [&](const std::string& shown, pool_core& p) {
      for (const auto& j : p.facade() ? p.facade()->jobs() : p.jobs())
        if ((what == "queued") == (j.state == job_state::queued)) jobs.emplace_back(job_json(shown, j, now));
    });
    return {{"ok", true}, {"jobs", std::move(jobs)}};
  }
  if (cmd == "grow" || cmd == "shrink" || cmd == "resize") {
    const std::string pool = string_field(req, "pool");
    const std::uint64_t n = count_field(req, "n", max_count);
    std::size_t before = 0, after = 0;
    bool processes = false;
    with_pool(pool, [&](pool_core& p) {
      // A process_pool's inner pool: grow, shrink and resize count worker processes.
      if (detail::pool_facade* f = p.facade()) {
        processes = true;
        before = f->size();
        if (cmd == "grow") f->grow(n);
        else if (cmd == "shrink") f->shrink(n);
        else f->resize(n);
        after = f->size();
        return;
      }
      before = p.limit();
      if (cmd == "grow") p.grow(n);
      else if (cmd == "shrink") p.shrink(n);
      else p.resize(n);
      after = p.limit();
    });
    return {{"ok", true}, {"pool", pool}, {"counts", processes ? "processes" : "limit"},
            {"limit_before", before}, {"limit", after}};
  }
  if (cmd == "terminate") {
    const std::uint64_t id = count_field(req, "id", UINT64_MAX);
    int signal = SIGTERM;
    if (field(req, "signal")) signal = static_cast<int>(count_field(req, "signal", 64));
    if (signal == 0) throw refused{"\"signal\" must be from 1 to 64"};
    bool done = false;
    pool_core::for_each_live([&](pool_core& p) { done = done || p.terminate_job(id, signal); });
    if (!done) throw refused{"no live job " + std::to_string(id) + " (inspect active lists them)"};
    return {{"ok", true}, {"id", id}, {"signal", signal}};
  }
  if (cmd == "cancel-group") {
    const std::string pool = string_field(req, "pool");
    const std::string group = string_field(req, "group");
    with_pool(pool, [&](pool_core& p) {
      try {
        p.cancel_group(group);
      } catch (const group_not_found&) {
        throw refused{"pool \"" + pool + "\" has no group \"" + group + "\""};
      }
    });
    return {{"ok", true}, {"pool", pool}, {"group", group}};
  }
  throw refused{"unknown command \"" + cmd +
                "\"; the commands: ping, stats, inspect, dump, metrics, grow, shrink, resize, terminate, cancel-group"};
}

std::string failure(const std::string& what) { return json::serialize(json::object{{"ok", false}, {"error", what}}); }

}  // namespace

std::string execute(std::string_view line, bool read_only) {
  json::parse_options limits;
  limits.max_depth = 16;
  boost::system::error_code ec;
  json::value v = json::parse(line, ec, {}, limits);
  if (ec) return failure("not a JSON object: " + ec.message());
  if (!v.is_object()) return failure("a request is a JSON object, e.g. {\"cmd\": \"ping\"}");
  try {
    return json::serialize(run(v.get_object(), read_only));
  } catch (const refused& r) {
    return failure(r.what);
  } catch (const std::exception& e) {
    return failure(std::string("failed: ") + e.what());
  }
}

}  // namespace fiberpool::control
