// model: a seeded, randomized model test of task_pool: random operations from foreign threads,
// each step and each seed's end checked against a simple model of what the contract promises.
//
// Environment (the Meson option `soak` sets FIBERPOOL_MODEL_OPS):
//   FIBERPOOL_MODEL_SEED=s        run only seed s (to reproduce a failure; its seed is printed)
//   FIBERPOOL_MODEL_FIRST_SEED=s  first seed of the run (default 1)
//   FIBERPOOL_MODEL_SEEDS=n       seeds per run (default 200)
//   FIBERPOOL_MODEL_OPS=n         operations per seed (default 500, shared by the seed's drivers)
// A seed fixes the pool's configuration and every driver's operation sequence; the interleaving of
// the driver threads and the scheduler is not reproducible, so rerun a failing seed a few times.
#include <algorithm>
#include <array>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <csignal>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <deque>
#include <exception>
#include <memory>
#include <mutex>
#include <random>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "support.hpp"

using namespace fiberpool;
using namespace fiberpool_test;

namespace {

std::uint64_t env_u64(const char* name, std::uint64_t fallback) {
  const char* v = std::getenv(name);
  if (!v || !*v) return fallback;
  return std::strtoull(v, nullptr, 10);
}

std::uint64_t splitmix(std::uint64_t x) {
  x += 0x9e3779b97f4a7c15ull;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
  return x ^ (x >> 31);
}

struct rng {
  explicit rng(std::uint64_t s) : gen(splitmix(s)) {}
  std::uint64_t below(std::uint64_t n) { return n ? gen() % n : 0; }    // [0, n)
  bool chance(unsigned percent) { return below(100) < percent; }
  std::mt19937_64 gen;
};

// What a job's target does.
enum class behaviour { value, throws, sleeps, yields, waits_event, children };
const char* name_of(behaviour b) {
  switch (b) {
    case behaviour::value: return "value";
    case behaviour::throws: return "throws";
    case behaviour::sleeps: return "sleeps";
    case behaviour::yields: return "yields";
    case behaviour::waits_event: return "waits_event";
    case behaviour::children: return "children";
  }
  return "?";
}

// The exception a `throws` job's target raises.
struct model_failure : std::runtime_error {
  explicit model_failure(long v) : std::runtime_error("model_failure"), value(v) {}
  long value;
};

constexpr int no_state = -1;

// The model of one apply(): what the target does, what happened to it, what the pool reported.
struct job_model {
  behaviour what = behaviour::value;
  long expected = 0;           // the target's return value (or model_failure's value)
  std::uint64_t param = 0;     // sleep µs, yields, event index or children count
  std::uint64_t child_seed = 0;
  bool child = false;          // applied from a job
  job_id parent = 0;
  job_model* parent_model = nullptr;  // a parent's kill reaches its inline children's code too
  bool accepted = false;       // apply() returned a handle (set before the model is published)
  fiberpool::job<long> handle;
  std::atomic<bool> target_started{false};
  std::atomic<bool> target_returned{false};
  std::atomic<bool> killed{false};          // terminate_job() returned true for it
  std::atomic<int> kill_signal{0};
  std::atomic<int> accepted_calls{0};
  std::atomic<job_id> accepted_id{0};
  std::atomic<int> ended_calls{0};
  std::atomic<int> ended_state{no_state};
  std::atomic<job_id> ended_id{0};
  std::atomic<bool> ended_has_error{false};
  std::atomic<bool> target_id_ok{true};
};

struct seed_config {
  std::size_t threads = 1;
  std::size_t drivers = 1;
  std::size_t limit = 1;
  bool reject = false;
  std::size_t max_queued = SIZE_MAX;
  bool start_at_once = true;
};

constexpr std::size_t event_count = 4;
constexpr std::size_t drain_limit = 64;  // enough slots that every parent and its children can run

// One seed: the pool, the model, and the drivers' traces.
class seed_run {
 public:
  seed_run(std::uint64_t seed, std::size_t ops) : seed_(seed), ops_(ops) {
    rng r(seed);
    cfg_.threads = 1 + r.below(2);
    cfg_.drivers = 1 + r.below(4);
    cfg_.limit = r.below(5);
    cfg_.reject = r.chance(50);
    // overflow::block with a bound of 0 (eventlet's GreenPool: spawn waits while the pool is full)
    // or 1: a blocked apply() must start as soon as a job's end, a kill, grow() or resize() makes room.
    cfg_.max_queued = cfg_.reject ? r.below(7) : r.chance(40) ? r.below(2) : SIZE_MAX;
    cfg_.start_at_once = r.chance(70);
    traces_.resize(cfg_.drivers + 2);  // 0: start and finish, 1..drivers, then the releaser
  }

  std::string describe() const {
    return "seed " + std::to_string(seed_) + ": threads " + std::to_string(cfg_.threads) + ", drivers " +
           std::to_string(cfg_.drivers) + ", limit " + std::to_string(cfg_.limit) + ", max_queued " +
           (cfg_.reject                   ? std::to_string(cfg_.max_queued) + " (reject)"
            : cfg_.max_queued != SIZE_MAX ? std::to_string(cfg_.max_queued) + " (block)"
                                          : std::string("none (block)")) +
           (cfg_.start_at_once ? ", started at once" : ", started later");
  }

  // run: the drivers' operations, then the seed's end. Returns false if it did not finish within
  // patience (the failure is recorded; the caller decides how to get out).
  void run() {
    pool_options o;
    o.name = "model";
    o.threads = cfg_.threads;
    o.limit = cfg_.limit;
    o.max_queued = cfg_.max_queued;
    o.on_overflow = cfg_.reject ? overflow::reject : overflow::block;
    model_limit_ = limit_hw_ = cfg_.limit;
    pool_ = std::make_unique<task_pool>(o);
    pool_raw_ = pool_.get();
    if (cfg_.start_at_once) do_start(0);

    std::vector<std::thread> drivers;
    const std::size_t per_driver = std::max<std::size_t>(1, ops_ / cfg_.drivers);
    for (std::size_t d = 1; d <= cfg_.drivers; ++d)
      drivers.emplace_back([this, d, per_driver] { drive(d, per_driver); });
    std::thread releaser;
    if (blocks_on_a_bound()) releaser = std::thread([this] { release_blocked(); });
    for (auto& t : drivers) t.join();
    drivers_done_.store(true);
    if (releaser.joinable()) releaser.join();
    finish();
  }

  // unstick: sets every event and makes room, so that a stuck seed can end (after a failure).
  void unstick() {
    for (auto& e : events_) e.set();
    if (!pool_raw_) return;
    pool_raw_->grow(drain_limit);
    for (job_model* m : accepted_snapshot()) pool_raw_->terminate_job(m->handle.id());
  }

  std::vector<std::string> failures() const {
    std::lock_guard lk(fail_mu_);
    return failures_;
  }
  std::size_t failure_count() const { return failure_count_.load(); }

  std::string trace_tail(std::size_t n) const {
    std::lock_guard lk(trace_mu_);
    std::string out;
    for (std::size_t d = 0; d < traces_.size(); ++d) {
      const auto& t = traces_[d];
      std::size_t from = t.size() > n ? t.size() - n : 0;
      for (std::size_t i = from; i < t.size(); ++i) out += "  d" + std::to_string(d) + ": " + t[i] + "\n";
    }
    return out;
  }

  std::size_t ops_done() const { return ops_done_.load(); }

  // destroy: the pool goes (its destructor terminates it if it still runs), then the model.
  void destroy() {
    pool_.reset();
    pool_raw_ = nullptr;
    {
      std::lock_guard lk(reg_mu_);
      for (auto& m : models_) {
        if (!m->accepted && (m->ended_calls.load() != 0 || m->accepted_calls.load() != 0))
          fail("a refused apply() got callbacks (on_accepted " + std::to_string(m->accepted_calls.load()) +
               ", on_ended " + std::to_string(m->ended_calls.load()) + ")");
      }
      accepted_list_.clear();
      models_.clear();
    }
  }

 private:
  void fail(const std::string& what) {
    failure_count_.fetch_add(1);
    std::lock_guard lk(fail_mu_);
    if (failures_.size() < 20) failures_.push_back(what);
  }
  void expect(bool ok, const std::string& what) {
    if (!ok) fail(what);
  }
  void trace(std::size_t d, std::string line) {
    std::lock_guard lk(trace_mu_);
    traces_[d].push_back(std::move(line));
  }

  // --- the model's registry ---
  job_model* new_model() {
    std::lock_guard lk(reg_mu_);
    models_.push_back(std::make_unique<job_model>());
    return models_.back().get();
  }
  void publish(job_model* m) {
    std::lock_guard lk(reg_mu_);
    m->accepted = true;
    accepted_list_.push_back(m);
  }
  job_model* pick_accepted(rng& r) {
    std::lock_guard lk(reg_mu_);
    if (accepted_list_.empty()) return nullptr;
    return accepted_list_[r.below(accepted_list_.size())];
  }
  std::vector<job_model*> accepted_snapshot() {
    std::lock_guard lk(reg_mu_);
    return accepted_list_;
  }

  // --- jobs ---
  long run_target(job_model* m) {
    m->target_started.store(true);
    if (this_job::id() != m->accepted_id.load()) m->target_id_ok.store(false);
    long result = m->expected;
    switch (m->what) {
      case behaviour::value: break;
      case behaviour::throws: throw model_failure(m->expected);
      case behaviour::sleeps: this_job::sleep_for(std::chrono::microseconds(m->param)); break;
      case behaviour::yields:
        for (std::uint64_t i = 0; i < m->param; ++i) this_job::yield();
        break;
      case behaviour::waits_event: events_[m->param].wait(); break;
      case behaviour::children: run_children(m); break;
    }
    if (this_job::id() != m->accepted_id.load()) m->target_id_ok.store(false);
    m->target_returned.store(true);
    return result;
  }

  // run_children: applies param children into the same pool, then get()s them. A child's failure or
  // kill does not fail the parent; the parent's own kill is sticky, so swallowing it here is fine.
  void run_children(job_model* parent) {
    rng r(parent->child_seed);
    std::vector<job_model*> kids;
    for (std::uint64_t i = 0; i < parent->param; ++i) {
      job_model* c = new_model();
      c->child = true;
      c->parent = parent->accepted_id.load();
      c->parent_model = parent;
      static constexpr behaviour kinds[] = {behaviour::value, behaviour::throws, behaviour::sleeps, behaviour::yields};
      c->what = kinds[r.below(4)];
      c->expected = static_cast<long>(r.below(1000000));
      c->param = c->what == behaviour::sleeps ? r.below(200) : c->what == behaviour::yields ? 1 + r.below(3) : 0;
      if (apply_model(c, /*from_job=*/true)) kids.push_back(c);
    }
    for (job_model* c : kids) {
      try {
        long v = c->handle.get();
        if (v != c->expected) fail("child get() returned " + std::to_string(v) + ", expected " + std::to_string(c->expected));
      } catch (...) {
      }
    }
  }

  // apply_model: apply() for m; true if accepted (and m published), false if refused.
  bool apply_model(job_model* m, bool from_job) {
    job_options jo;
    jo.on_accepted = [m](job_id id) {
      m->accepted_calls.fetch_add(1);
      m->accepted_id.store(id);
    };
    jo.on_ended = [m](job_id id, job_state s, std::exception_ptr e) {
      m->ended_id.store(id);
      m->ended_has_error.store(static_cast<bool>(e));
      m->ended_state.store(static_cast<int>(s));
      m->ended_calls.fetch_add(1);
    };
    const bool closed_before = closed_done_.load();
    applies_started_.fetch_add(1);
    if (from_job) child_applies_started_.fetch_add(1);
    bool ok = false;
    try {
      m->handle = pool_raw_->apply(std::move(jo), [this, m] { return run_target(m); });
      ok = true;
    } catch (const pool_closed&) {
      expect(closing_begun_.load(), "apply() threw pool_closed before any close()/stop()/terminate()");
    } catch (const pool_full&) {
      expect(cfg_.reject, "apply() threw pool_full with overflow::block");
    } catch (const job_terminated&) {
      // a child apply() of a killed parent: a blocking apply() is a cancellation point
      if (from_job) child_applies_finished_.fetch_add(1);
      throw;
    } catch (const std::exception& e) {
      fail(std::string("apply() threw ") + e.what());
    }
    if (from_job) child_applies_finished_.fetch_add(1);
    if (ok) {
      expect(!closed_before, "apply() accepted a job after close()/stop()/terminate() returned");
      expect(m->handle.id() != 0, "apply() returned a handle with id 0");
      publish(m);
      applies_accepted_.fetch_add(1);
    }
    return ok;
  }

  bool blocks_on_a_bound() const { return !cfg_.reject && cfg_.max_queued != SIZE_MAX; }

  // release_blocked: with a bounded blocking queue every driver can be blocked in apply() at once,
  // waiting for room that only a driver's operation would make. This thread makes room the ways a
  // real program does (start(), an event that lets a job end, a kill, grow() or resize() of a pool
  // with no slot), so the seed goes on and each way of freeing a slot must wake a blocked apply().
  void release_blocked() {
    rng r(seed_ * 16 + 14);
    std::size_t d = traces_.size() - 1;
    while (!drivers_done_.load()) {
      std::this_thread::sleep_for(std::chrono::microseconds(200 + r.below(800)));
      // A pool never started has no room at all: a program starts it, sooner or later.
      if (!started_.load() && r.chance(5)) do_start(d);
      switch (r.below(4)) {
        case 0: events_[r.below(event_count)].set(); break;
        case 1:
          if (r.chance(30)) op_terminate_job(d, r);
          break;
        default: {
          std::lock_guard lk(limit_mu_);
          if (model_limit_ != 0) break;
          const bool by_grow = r.chance(50);
          model_limit_ = 1;
          limit_hw_ = std::max<std::size_t>(limit_hw_.load(), 1);
          trace(d, by_grow ? "grow 1 (release)" : "resize 1 (release)");
          if (by_grow) pool_raw_->grow(1);
          else pool_raw_->resize(1);
        }
      }
    }
  }

  // --- the drivers ---
  void drive(std::size_t d, std::size_t ops) {
    rng r(seed_ * 16 + d);
    for (std::size_t i = 0; i < ops; ++i) {
      step(d, r);
      check_invariants(d);
      ops_done_.fetch_add(1);
    }
  }

  void step(std::size_t d, rng& r) {
    const auto roll = r.below(1000);
    if (roll < 420) return op_apply(d, r);
    if (roll < 470) {
      std::size_t e = r.below(event_count);
      trace(d, "set event " + std::to_string(e));
      events_[e].set();
      return;
    }
    if (roll < 620) return op_terminate_job(d, r);
    if (roll < 700) return op_probe(d, r);
    if (roll < 860) return op_resize(d, r);
    if (roll < 900) {
      if (!started_.load()) do_start(d);
      return;
    }
    if (roll < 995) return op_introspect(d);
    return op_lifecycle(d, r);
  }

  void op_apply(std::size_t d, rng& r) {
    job_model* m = new_model();
    const auto k = r.below(100);
    m->what = k < 20 ? behaviour::value : k < 32 ? behaviour::throws : k < 50 ? behaviour::sleeps
            : k < 62 ? behaviour::yields : k < 84 ? behaviour::waits_event : behaviour::children;
    m->expected = static_cast<long>(r.below(1000000));
    switch (m->what) {
      case behaviour::sleeps: m->param = r.below(300); break;
      case behaviour::yields: m->param = 1 + r.below(5); break;
      case behaviour::waits_event: m->param = r.below(event_count); break;
      case behaviour::children: m->param = 1 + r.below(3); m->child_seed = r.gen(); break;
      default: break;
    }
    bool ok = apply_model(m, false);
    trace(d, std::string("apply ") + name_of(m->what) + "(" + std::to_string(m->param) + ") -> " +
                 (ok ? "id " + std::to_string(m->handle.id()) : std::string("refused")));
  }

  void op_terminate_job(std::size_t d, rng& r) {
    const int sig = r.chance(50) ? SIGTERM : SIGINT;
    job_model* m = r.chance(85) ? pick_accepted(r) : nullptr;
    if (!m) {
      job_id unknown = r.chance(20) ? 0 : (job_id{1} << 60) + r.below(1000000);
      bool res = pool_raw_->terminate_job(unknown, sig);
      trace(d, "terminate_job unknown " + std::to_string(unknown) + " -> " + (res ? "true" : "false"));
      expect(!res, "terminate_job(" + std::to_string(unknown) + ") of an unknown id returned true");
      return;
    }
    const bool was_done = m->handle.done();
    bool res = pool_raw_->terminate_job(m->handle.id(), sig);
    trace(d, "terminate_job " + std::to_string(m->handle.id()) + (was_done ? " (ended)" : "") + " -> " +
                 (res ? "true" : "false"));
    if (res) {
      expect(!was_done, "terminate_job(" + std::to_string(m->handle.id()) + ") returned true for a job already ended");
      m->kill_signal.store(sig);
      m->killed.store(true);
    }
  }

  // op_probe: a done() handle has had its on_ended called exactly once, with the same state.
  void op_probe(std::size_t d, rng& r) {
    job_model* m = pick_accepted(r);
    if (!m) return;
    if (!m->handle.done()) return;
    trace(d, "probe " + std::to_string(m->handle.id()));
    const int calls = m->ended_calls.load();
    expect(calls == 1, "job " + std::to_string(m->handle.id()) + " is done but on_ended ran " + std::to_string(calls) + " times");
    expect(m->ended_state.load() == static_cast<int>(m->handle.state()),
           "job " + std::to_string(m->handle.id()) + ": on_ended state differs from handle.state()");
    expect(!pool_raw_->terminate_job(m->handle.id()), "terminate_job() of ended job " + std::to_string(m->handle.id()) + " returned true");
  }

  void op_resize(std::size_t d, rng& r) {
    std::lock_guard lk(limit_mu_);
    const auto k = r.below(3);
    const std::size_t n = r.below(4);
    if (k == 0) {
      model_limit_ += n;
      limit_hw_ = std::max(limit_hw_.load(), model_limit_);
      trace(d, "grow " + std::to_string(n));
      pool_raw_->grow(n);
    } else if (shutting_.load()) {
      // a shutdown waits for queued jobs: never take their slots away under it
      return;
    } else if (k == 1) {
      shrunk_.store(true);
      model_limit_ -= std::min(n, model_limit_);
      trace(d, "shrink " + std::to_string(n));
      pool_raw_->shrink(n);
    } else {
      const std::size_t to = r.below(5);
      if (to < model_limit_) shrunk_.store(true);
      model_limit_ = to;
      limit_hw_ = std::max(limit_hw_.load(), to);
      trace(d, "resize " + std::to_string(to));
      pool_raw_->resize(to);
    }
    const std::size_t now = pool_raw_->limit();
    expect(now == model_limit_, "limit() is " + std::to_string(now) + ", the model says " + std::to_string(model_limit_));
  }

  void op_introspect(std::size_t d) {
    (void)d;
    expect(pool_raw_->free() <= limit_hw_.load(), "free() exceeds every limit the pool ever had");
    auto js = pool_raw_->jobs();
    for (std::size_t i = 1; i < js.size(); ++i)
      expect(js[i - 1].id < js[i].id, "jobs() is not oldest first");
    for (const auto& j : js)
      expect(!is_terminal(j.state), "jobs() lists job " + std::to_string(j.id) + " in a terminal state");
  }

  void do_start(std::size_t d) {
    std::lock_guard lk(start_mu_);
    if (started_.load()) return;
    trace(d, "start");
    try {
      pool_raw_->start();
      start_ok_.store(true);
      started_.store(true);
    } catch (const fiberpool::error&) {
      expect(closing_begun_.load(), "start() of a created pool threw");
      started_.store(true);  // do not try again
    }
  }

  // Pool-wide shutdowns. Before a stop() every event is set and the limit raised, so that it ends.
  void op_lifecycle(std::size_t d, rng& r) {
    switch (r.below(4)) {
      case 0:
        trace(d, "close");
        closing_begun_.store(true);
        pool_raw_->close();
        closed_done_.store(true);
        expect(pool_raw_->state() == pool_state::closed || pool_raw_->state() == pool_state::stopped, "close() left the pool open");
        break;
      case 1: {
        trace(d, "stop");
        closing_begun_.store(true);
        prepare_stop();
        pool_raw_->stop();
        after_shutdown(d, "stop()");
        break;
      }
      case 2: {
        const auto grace = std::chrono::microseconds(r.below(3000));
        trace(d, "stop_for " + std::to_string(grace.count()) + "us");
        closing_begun_.store(true);
        shutting_.store(true);
        pool_kill_.store(true);
        bool in_time = pool_raw_->stop_for(grace);
        trace(d, std::string("stop_for -> ") + (in_time ? "true" : "false"));
        finish_abandoned_stop_for(d, in_time);
        after_shutdown(d, "stop_for()");
        break;
      }
      default:
        trace(d, "terminate");
        closing_begun_.store(true);
        shutting_.store(true);
        pool_kill_.store(true);
        pool_raw_->terminate();
        after_shutdown(d, "terminate()");
        break;
    }
  }

  // finish_abandoned_stop_for: stop_for() that gives up on jobs that did not unwind within its
  // grace and a short margin returns false with the pool closed, not stopped; terminate() then
  // finishes the shutdown. On a loaded machine a killed job may unwind that slowly.
  void finish_abandoned_stop_for(std::size_t d, bool in_time) {
    const auto s = pool_raw_->state();
    expect(in_time ? s == pool_state::stopped : s == pool_state::stopped || s == pool_state::closed,
           std::string("stop_for() returned ") + (in_time ? "true" : "false") + " with the pool " +
               std::string(to_string(s)));
    if (s == pool_state::stopped) return;
    trace(d, "terminate (after stop_for)");
    pool_raw_->terminate();
  }

  void prepare_stop() {
    {
      std::lock_guard lk(limit_mu_);
      shutting_.store(true);
      if (model_limit_ < drain_limit) {
        limit_hw_ = std::max(limit_hw_.load(), drain_limit);
        model_limit_ = drain_limit;
        pool_raw_->resize(drain_limit);
      }
    }
    for (auto& e : events_) e.set();
    // A pool that was never started has its queued jobs cancelled by stop().
    std::lock_guard lk(start_mu_);
    if (!start_ok_.load()) never_started_shutdown_.store(true);
  }

  // after_shutdown: stop()/stop_for()/terminate() returned: the pool is stopped, empty, and every
  // job accepted so far has ended.
  void after_shutdown(std::size_t d, const char* what) {
    closed_done_.store(true);
    auto i = pool_raw_->info();
    expect(i.state == pool_state::stopped, std::string(what) + " returned but the pool is " + std::string(to_string(i.state)));
    expect(i.running == 0 && i.waiting == 0, std::string(what) + " returned with running " + std::to_string(i.running) +
                                                 ", waiting " + std::to_string(i.waiting));
    for (job_model* m : accepted_snapshot()) {
      expect(m->handle.done(), std::string(what) + " returned but job " + std::to_string(m->handle.id()) + " is " +
                                   std::string(to_string(m->handle.state())));
    }
    trace(d, std::string(what) + " returned");
  }

  // check_invariants: after every step, against one atomic info() snapshot.
  void check_invariants(std::size_t d) {
    const std::size_t accepted_before = applies_accepted_.load();
    const std::size_t kids_finished_before = child_applies_finished_.load();
    const auto i = pool_raw_->info();
    const std::size_t started_after = applies_started_.load();
    const std::size_t kids_started_after = child_applies_started_.load();
    const bool shrunk = shrunk_.load();
    const std::size_t hw = limit_hw_.load();
    const std::size_t ended = i.succeeded + i.failed + i.terminated + i.cancelled;
    const std::size_t total = i.running + i.waiting + ended;
    const std::size_t inline_bound = kids_started_after - kids_finished_before;
    auto where = [&] {
      return " (driver " + std::to_string(d) + ": limit " + std::to_string(i.limit) + ", running " +
             std::to_string(i.running) + ", waiting " + std::to_string(i.waiting) + ", ended " + std::to_string(ended) +
             ", accepted>= " + std::to_string(accepted_before) + ", applies<= " + std::to_string(started_after) +
             ", inline<= " + std::to_string(inline_bound) + ")";
    };
    expect(total >= accepted_before, "an accepted job is neither live nor ended" + where());
    expect(total <= started_after, "the pool counts more jobs than apply() calls" + where());
    if (!shrunk) expect(i.running <= i.limit + inline_bound, "running() > limit() beyond inline children" + where());
    expect(i.running <= hw + inline_bound, "running() exceeds every limit the pool ever had" + where());
    expect(i.waiting <= cfg_.max_queued, "waiting() exceeds max_queued" + where());
    if (i.state == pool_state::created) expect(i.running == 0, "a job runs in a pool never started" + where());
    if (closed_done_.load()) {
      auto s = pool_raw_->state();
      expect(s == pool_state::closed || s == pool_state::stopped, "the pool reopened after close()");
    }
  }

  // finish: the seed's end: release every wait, shut the pool down one of several ways, then check
  // every job against the model.
  void finish() {
    rng r(seed_ * 16 + 15);
    const std::size_t d = 0;
    if (!started_.load() && !closing_begun_.load() && r.chance(60)) do_start(d);
    auto how = r.below(5);
    trace(d, "finish " + std::to_string(how));
    if (how == 0) {
      // the destructor terminates
      closing_begun_.store(true);
      pool_kill_.store(true);
      for (auto& e : events_) e.set();
      check_final(false);
      return;
    }
    if (how == 1) {
      closing_begun_.store(true);
      pool_kill_.store(true);
      shutting_.store(true);
      pool_raw_->terminate();
    } else if (how == 2) {
      closing_begun_.store(true);
      shutting_.store(true);
      pool_kill_.store(true);
      finish_abandoned_stop_for(d, pool_raw_->stop_for(std::chrono::microseconds(r.below(2000))));
    } else {
      closing_begun_.store(true);
      prepare_stop();
      if (how == 3 && start_ok_.load() && !closed_done_.load()) {
        bool idle = pool_raw_->waitall_for(patience);
        expect(idle, "waitall_for(patience) found jobs left after every event was set");
      }
      pool_raw_->stop();
    }
    after_shutdown(d, "the final shutdown");
    check_final(true);
  }

  // check_final: every accepted job ended exactly once, consistently with what happened to it.
  void check_final(bool pool_stopped) {
    if (!pool_stopped) {
      pool_.reset();  // ~task_pool: terminate() and wait
      pool_raw_ = nullptr;
      closed_done_.store(true);
    } else {
      expect(pool_raw_->waiting() == 0 && pool_raw_->running() == 0, "a stopped pool has live jobs");
      // apply() after stop throws pool_closed
      try {
        pool_raw_->apply([] { return 0; });
        fail("apply() after stop() was accepted");
      } catch (const pool_closed&) {
      } catch (...) {
        fail("apply() after stop() threw something other than pool_closed");
      }
    }
    std::array<std::size_t, 6> by_state{};
    const auto all = accepted_snapshot();
    for (job_model* m : all) {
      const std::string who = "job " + std::to_string(m->handle.id()) + " (" + name_of(m->what) +
                              (m->child ? ", child of " + std::to_string(m->parent) : std::string()) + ")";
      if (!m->handle.wait_for(patience)) {
        fail(who + " did not end");
        continue;
      }
      const int calls = m->ended_calls.load();
      expect(calls == 1, who + ": on_ended ran " + std::to_string(calls) + " times");
      expect(m->accepted_calls.load() <= 1, who + ": on_accepted ran " + std::to_string(m->accepted_calls.load()) + " times");
      if (calls != 1) continue;
      const auto s = static_cast<job_state>(m->ended_state.load());
      ++by_state[static_cast<std::size_t>(s)];
      const std::string ss = " ended " + std::string(to_string(s));
      expect(is_terminal(s), who + ss);
      expect(m->handle.state() == s, who + ss + " but its handle says " + std::string(to_string(m->handle.state())));
      expect(m->ended_id.load() == m->handle.id(), who + ": on_ended got id " + std::to_string(m->ended_id.load()));
      if (m->accepted_calls.load() == 1)
        expect(m->accepted_id.load() == m->handle.id(), who + ": on_accepted got id " + std::to_string(m->accepted_id.load()));
      expect(m->target_id_ok.load(), who + ": this_job::id() inside the target was not its id");
      expect(m->ended_has_error.load() == (s == job_state::failed || s == job_state::terminated),
             who + ss + " and on_ended's exception_ptr is " + (m->ended_has_error.load() ? "set" : "null"));
      // a target runs only after on_accepted
      if (m->target_started.load()) expect(m->accepted_calls.load() == 1, who + ": its target ran without on_accepted");

      const bool killed = m->killed.load();
      const bool pool_kill = pool_kill_.load();
      switch (s) {
        case job_state::succeeded:
          expect(m->what != behaviour::throws, who + ss + " though its target throws");
          expect(m->target_returned.load(), who + ss + " though its target did not return");
          expect(!killed, who + ss + " though terminate_job() returned true for it");
          break;
        case job_state::failed:
          expect(m->what == behaviour::throws, who + ss + " though its target does not throw");
          expect(!killed, who + ss + " though terminate_job() returned true for it");
          break;
        case job_state::terminated:
          expect(killed || pool_kill || (m->parent_model && m->parent_model->killed.load()),
                 who + ss + " though nothing killed it or its parent");
          break;
        case job_state::cancelled:
          expect(!m->target_started.load() && m->accepted_calls.load() == 0, who + ss + " though it started");
          expect(killed || pool_kill || never_started_shutdown_.load(), who + ss + " though nothing cancelled it");
          break;
        default: break;
      }
      if (s == job_state::succeeded || s == job_state::failed)
        expect(m->target_started.load() && m->accepted_calls.load() == 1, who + ss + " though it never started");
      // what get() says
      try {
        long v = m->handle.get();
        expect(s == job_state::succeeded, who + ss + " but get() returned a value");
        expect(v == m->expected, who + ": get() returned " + std::to_string(v) + ", expected " + std::to_string(m->expected));
      } catch (const model_failure& e) {
        expect(s == job_state::failed && e.value == m->expected, who + ss + " but get() threw its model_failure");
      } catch (const time_limit_exceeded&) {
        fail(who + ss + ": get() threw time_limit_exceeded without a time limit");
      } catch (const job_terminated& e) {
        expect(s == job_state::terminated, who + ss + " but get() threw job_terminated");
        if (m->killed.load() && !pool_kill) expect(e.signal() == SIGTERM || e.signal() == SIGINT, who + ": odd signal");
      } catch (const job_cancelled&) {
        expect(s == job_state::cancelled, who + ss + " but get() threw job_cancelled");
      } catch (const std::exception& e) {
        fail(who + ss + " but get() threw " + e.what());
      }
    }
    if (pool_) {
      auto i = pool_raw_->info();
      const std::size_t ended = i.succeeded + i.failed + i.terminated + i.cancelled;
      expect(ended == all.size(), "info() counts " + std::to_string(ended) + " ended jobs, " + std::to_string(all.size()) + " were accepted");
      expect(i.succeeded == by_state[static_cast<std::size_t>(job_state::succeeded)], "info().succeeded differs from on_ended");
      expect(i.failed == by_state[static_cast<std::size_t>(job_state::failed)], "info().failed differs from on_ended");
      expect(i.terminated == by_state[static_cast<std::size_t>(job_state::terminated)], "info().terminated differs from on_ended");
      expect(i.cancelled == by_state[static_cast<std::size_t>(job_state::cancelled)], "info().cancelled differs from on_ended");
      for (job_model* m : all)
        expect(!pool_raw_->terminate_job(m->handle.id()), "terminate_job() after stop returned true");
    }
  }

  const std::uint64_t seed_;
  const std::size_t ops_;
  seed_config cfg_;

  std::array<fiberpool::event, event_count> events_;  // outlives the pool
  mutable std::mutex reg_mu_;
  std::deque<std::unique_ptr<job_model>> models_;     // every apply() attempt, accepted or not
  std::vector<job_model*> accepted_list_;
  std::unique_ptr<task_pool> pool_;
  task_pool* pool_raw_ = nullptr;  // jobs apply through it while ~task_pool() terminates them

  std::atomic<std::size_t> applies_started_{0}, applies_accepted_{0};
  std::atomic<std::size_t> child_applies_started_{0}, child_applies_finished_{0};
  std::mutex limit_mu_;
  std::size_t model_limit_ = 0;
  std::atomic<std::size_t> limit_hw_{0};
  std::atomic<bool> shrunk_{false};
  std::mutex start_mu_;
  std::atomic<bool> started_{false};   // start() was tried
  std::atomic<bool> start_ok_{false};  // start() succeeded
  std::atomic<bool> closing_begun_{false}, closed_done_{false}, shutting_{false};
  std::atomic<bool> pool_kill_{false}, never_started_shutdown_{false};
  std::atomic<std::size_t> ops_done_{0};
  std::atomic<bool> drivers_done_{false};

  mutable std::mutex fail_mu_;
  std::vector<std::string> failures_;
  std::atomic<std::size_t> failure_count_{0};
  mutable std::mutex trace_mu_;
  std::vector<std::vector<std::string>> traces_;
};

}  // namespace

TEST_CASE("model: random operations on a pool agree with the model") {
  const std::uint64_t only = env_u64("FIBERPOOL_MODEL_SEED", 0);
  const std::uint64_t first = only ? only : env_u64("FIBERPOOL_MODEL_FIRST_SEED", 1);
  const std::uint64_t seeds = only ? 1 : env_u64("FIBERPOOL_MODEL_SEEDS", 200);
  const std::size_t ops = std::max<std::uint64_t>(1, env_u64("FIBERPOOL_MODEL_OPS", 500));
  fiberpool::set_logger(nullptr);  // shutdown warnings are expected here
  std::size_t total_ops = 0;
  for (std::uint64_t seed = first; seed < first + seeds; ++seed) {
    auto run = std::make_unique<seed_run>(seed, ops);
    // Described now: INFO reads its arguments only when a check fails, and the leak check below
    // runs after the seed's run is gone.
    const std::string config = run->describe();
    INFO("reproduce with FIBERPOOL_MODEL_SEED=", seed, " FIBERPOOL_MODEL_OPS=", ops, " (", config, ")");
    // The seed runs on a helper thread, so that a hang becomes a failure.
    std::mutex mu;
    std::condition_variable cv;
    bool done = false;
    std::exception_ptr escaped;
    std::thread runner([&] {
      try {
        run->run();
      } catch (...) {
        escaped = std::current_exception();
      }
      std::lock_guard lk(mu);
      done = true;
      cv.notify_all();
    });
    bool in_time;
    {
      std::unique_lock lk(mu);
      in_time = cv.wait_for(lk, 2 * patience, [&] { return done; });
    }
    if (!in_time) {
      std::fprintf(stderr, "model: seed %llu hung; last operations:\n%s", static_cast<unsigned long long>(seed),
                   run->trace_tail(30).c_str());
      run->unstick();
      std::unique_lock lk(mu);
      if (!cv.wait_for(lk, patience, [&] { return done; })) {
        std::fprintf(stderr, "model: seed %llu (%s) is stuck for good; giving up\n",
                     static_cast<unsigned long long>(seed), run->describe().c_str());
        std::fflush(stderr);
        std::_Exit(3);
      }
    }
    runner.join();
    CHECK_MESSAGE(in_time, "the seed did not finish within patience; it ended only after unstick()");
    if (escaped) {
      try {
        std::rethrow_exception(escaped);
      } catch (const std::exception& e) {
        FAIL_CHECK("an exception escaped the seed: ", e.what());
      } catch (...) {
        FAIL_CHECK("a non-std exception escaped the seed");
      }
    }
    run->destroy();
    const auto failures = run->failures();
    if (!failures.empty()) {
      std::string tail = run->trace_tail(25);
      INFO("last operations per driver:\n", tail);
      for (const auto& f : failures) FAIL_CHECK(f);
      if (run->failure_count() > failures.size())
        FAIL_CHECK("... and ", run->failure_count() - failures.size(), " more failures");
    }
    total_ops += run->ops_done();
    run.reset();
    check_no_leaks();
  }
  MESSAGE("model: ", seeds, " seed(s) from ", first, ", ", total_ops, " operations");
}

// Reductions of what the model found, each deterministic: a slow on_ended holds a job in its end.

// A queued job cancelled by terminate_job() leaves waiting() before it is counted as ended and
// before its on_ended has run: for that moment info() shows it nowhere, and waitall() returns.
TEST_CASE("model reduction: a cancelled queued job is live until its on_ended returns") {
  with_threads([](std::size_t threads) {
    task_pool pool(pool_opts(threads, 0));
    pool.start();
    event in_on_ended, release;
    job_options o;
    o.on_ended = [&](job_id, job_state, std::exception_ptr) {
      in_on_ended.set();
      release.wait_for(patience);
    };
    auto j = pool.apply(std::move(o), [] { return 1; });
    std::thread killer([&] { CHECK(pool.terminate_job(j.id())); });
    REQUIRE(in_on_ended.wait_for(patience));
    auto i = pool.info();
    const std::size_t ended = i.succeeded + i.failed + i.terminated + i.cancelled;
    CHECK_MESSAGE(i.running + i.waiting + ended == 1, "the job is neither live nor ended: running ", i.running,
                  ", waiting ", i.waiting, ", ended ", ended);
    CHECK_MESSAGE(!pool.waitall_for(std::chrono::milliseconds(1)),
                  "waitall() returned while the job's on_ended was still running");
    release.set();
    killer.join();
    CHECK(j.state() == job_state::cancelled);
  });
}

// terminate_job() on a running job whose target has returned but whose end is not recorded yet
// (on_ended is running) returns true, and the job then ends succeeded, not terminated.
TEST_CASE("model reduction: terminate_job() that returns true is followed by a terminated end") {
  with_threads([](std::size_t threads) {
    task_pool pool(pool_opts(threads, 1));
    pool.start();
    event in_on_ended, release;
    job_options o;
    o.on_ended = [&](job_id, job_state, std::exception_ptr) {
      in_on_ended.set();
      release.wait_for(patience);
    };
    auto j = pool.apply(std::move(o), [] { return 1; });
    REQUIRE(in_on_ended.wait_for(patience));
    const bool killed = pool.terminate_job(j.id());
    release.set();
    j.wait();
    if (killed) {
      CHECK_MESSAGE(j.state() == job_state::terminated, "terminate_job() returned true, yet the job ended ",
                    to_string(j.state()));
    }
  });
}

// stop() on a pool that was close()d before it ever started waits forever: its queued jobs can
// never run, yet they are not cancelled (the header: "On a pool never started, queued jobs end
// cancelled").
TEST_CASE("model reduction: stop() after close() of a pool never started cancels its queued jobs") {
  task_pool pool(pool_opts(1));
  auto j = pool.apply([] { return 1; });
  pool.close();
  std::thread stopper([&] { pool.stop(); });
  const bool ended = j.wait_for(patience);
  CHECK_MESSAGE(ended, "stop() left the queued job of a never-started, closed pool waiting forever");
  if (!ended) pool.terminate_job(j.id());  // lets stop() return
  stopper.join();
  CHECK(j.state() == job_state::cancelled);
}
