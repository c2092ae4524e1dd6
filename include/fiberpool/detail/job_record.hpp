// job_record: the shared state of one job, between its pool, its fiber and its job<R> handles.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <exception>
#include <functional>
#include <memory>
#include <new>
#include <optional>
#include <string>
#include <type_traits>
#include <utility>

#include <fiberpool/detail/job_locals.hpp>
#include <fiberpool/detail/task.hpp>
#include <fiberpool/detail/timer_handle.hpp>
#include <fiberpool/detail/wait.hpp>
#include <fiberpool/options.hpp>
#include <fiberpool/types.hpp>

namespace fiberpool::detail {

class pool_core;
class job_record;
struct group_state;

// end_listener: what a job's owner inside the library (a map's result stream) is told once the
// job's end is fully recorded: its slot freed, its state terminal, its waiters woken.
class end_listener {
 public:
  virtual void job_recorded(job_record& rec) noexcept = 0;

 protected:
  ~end_listener() = default;
};

// What a job carries only when job_options asked for it (or it belongs to a group or a map), so a
// plain job stays small.
struct job_extras {
  std::string name;
  std::string group;
  std::optional<clock::duration> soft_time_limit;
  std::optional<clock::duration> hard_time_limit;
  std::function<void(job_id)> on_accepted;
  std::function<void(job_id, job_state, std::exception_ptr)> on_ended;
  timer_handle soft_timer;   // armed while the job runs
  timer_handle hard_timer;
  // The pool layer's: the group the job is a live member of (null once that group is forgotten),
  // its links in the group's member list (all guarded by the owner's lock), and the map to tell
  // of its end.
  group_state* grp = nullptr;
  job_record* group_prev = nullptr;
  job_record* group_next = nullptr;
  std::shared_ptr<end_listener> listener;
};

// What a cancel request asks for; a stronger request replaces a weaker one, never the reverse.
enum class cancel_kind : std::uint8_t { none = 0, soft_limit = 1, hard_limit = 2, kill = 3 };

// Reference counted: the pool holds one reference from apply() to the job's end, each job<R>
// handle holds one. The fields below the API are the pool layer's (lib/pool) to read and write.
class job_record : public task, public cancellable {
 public:
  job_record() noexcept;
  virtual ~job_record();
  job_record(const job_record&) = delete;
  job_record& operator=(const job_record&) = delete;
  // One record is made and freed per job: records of every type come from the thread's free lists
  // (lib/base/block_cache.hpp), not from malloc's shared bins.
  static void* operator new(std::size_t size);
  static void operator delete(void* p, std::size_t size) noexcept;
  // Over-aligned records (a result or a capture declared alignas(32) or more) bypass the lists,
  // which only promise malloc's alignment.
  static void* operator new(std::size_t size, std::align_val_t align) { return ::operator new(size, align); }
  static void operator delete(void* p, std::size_t size, std::align_val_t align) noexcept {
    ::operator delete(p, size, align);
  }

  void add_ref() noexcept { refs_.fetch_add(1, std::memory_order_relaxed); }
  void release() noexcept {
    if (refs_.fetch_sub(1, std::memory_order_acq_rel) == 1) delete this;
  }

  job_id id() const noexcept { return id_; }
  job_state state() const noexcept { return state_.load(std::memory_order_acquire); }

  // wait_until: waits for a terminal state; false if the deadline passed first. Cancellation point.
  bool wait_until(std::optional<clock::time_point> deadline);
  // rethrow_failure: for a job that did not succeed, throws what job::get() must throw.
  void rethrow_failure() const;
  // take_error: moves a failed or terminated job's exception out, for its one reader (a map's
  // stream). The exception then ends its life where it is used: were the record to keep it, the
  // thread that drops the record last (often the one that ran the job) would free an exception the
  // reader had just read, ordered only by libstdc++'s own reference count, which TSan cannot see.
  std::exception_ptr take_error() noexcept { return std::move(error); }
  // terminate: the owning pool's terminate_job(id(), signal).
  bool terminate(int signal);

  // invoke: runs the target on the job's fiber and stores its result; throws what it throws.
  virtual void invoke() = 0;
  // drop_target: destroys the target and its captures once it can no longer run.
  virtual void drop_target() noexcept = 0;

  // task: the runtime runs the job's fiber through these.
  task* run() noexcept override;
  void discard() noexcept override;

  // cancellable
  bool cancel_requested() const noexcept override;
  void raise_cancellation() override;

  // kill_exception: what a pending kill or hard limit raises (null when none is pending).
  std::exception_ptr kill_exception() const;
  // kill_requested: a kill (terminate_job, cancel, terminate) is pending or was delivered.
  bool kill_requested() const noexcept {
    return static_cast<cancel_kind>(cancel.load(std::memory_order_acquire) & 0xff) == cancel_kind::kill;
  }
  // request: strengthens the cancel request (never weakens it); true if it changed.
  bool request(cancel_kind kind, int signal) noexcept;
  // expire_limits: requests the soft/hard limit whose deadline passed. Cancellation points call it
  // so a job whose thread is too busy to fire timers (a CPU loop) still meets its limits.
  void expire_limits() noexcept;

  // --- pool layer state ---
  pool_core* owner = nullptr;
  job_record* next_queued = nullptr;     // admission FIFO links, guarded by the owner's lock; next_queued
                                         // also chains jobs taken to start (take_startable)
  job_record* prev_queued = nullptr;
  job_record* inline_parent = nullptr;   // the job whose fiber an inline child borrows
  // site: the fiber running the job, from its start to its recorded end. The job's own fiber
  // publishes it (seq_cst, after started_at and thread) without the owner's lock; the owner's lock
  // clears it. Readers under the owner's lock read started_at and thread only once site is set.
  std::atomic<fiber_site*> site{nullptr};
  std::unique_ptr<job_extras> extras;
  std::unique_ptr<job_locals> locals;    // job_local<T> values; only the job itself touches them
  std::exception_ptr error;              // failed / terminated: what get() rethrows
  // started_at: when it started. While it waits in the pool's queue: when it was queued (the
  // queue wait is measured from it at the start).
  clock::time_point started_at{};
  std::uint32_t thread = 0;              // the runtime thread it started on, or was last seen
                                         // running on (job_info::thread); once site is set,
                                         // guarded by the owner's lock
  std::atomic<std::uint32_t> cancel{0};  // cancel_kind in the low byte, signal above it
  bool is_inline = false;               // runs on the fiber of the job that applied it
  bool was_queued = false;              // waited in the pool's queue (started_at said since when)
  bool ending = false;                  // its end is being recorded; guarded by the owner's lock
  bool soft_raised = false;             // the soft limit was raised once (only the job reads it)
  std::uint8_t kills_raised = 0;        // kill deliveries, counted to 2 (only the job touches it)
  bool failure_told = false;            // its failure was already logged elsewhere (a burst of
                                         // fibers the runtime could not make): log_failures skips it
  spin_mutex mu;                         // guards waiters
  wait_list waiters;                     // fibers and threads in wait_until
  std::atomic<job_state> state_{job_state::queued};

 private:
  std::atomic<std::uint32_t> refs_{1};
  job_id id_;
};

// ref_ptr: an intrusive owning pointer to a job record.
template <class T>
class ref_ptr {
 public:
  ref_ptr() = default;
  explicit ref_ptr(T* p) noexcept : p_(p) {}  // adopts one reference
  ref_ptr(const ref_ptr& o) noexcept : p_(o.p_) { if (p_) p_->add_ref(); }
  ref_ptr(ref_ptr&& o) noexcept : p_(std::exchange(o.p_, nullptr)) {}
  ref_ptr& operator=(ref_ptr o) noexcept { std::swap(p_, o.p_); return *this; }
  ~ref_ptr() { if (p_) p_->release(); }
  T* get() const noexcept { return p_; }
  T* operator->() const noexcept { return p_; }
  T& operator*() const noexcept { return *p_; }
  explicit operator bool() const noexcept { return p_ != nullptr; }
  // detach: gives up ownership of the reference without releasing it.
  T* detach() noexcept { return std::exchange(p_, nullptr); }

 private:
  T* p_ = nullptr;
};

// taken_flag: whether a move-only result was moved out by get(); nothing for other results.
template <bool MoveOnly>
struct taken_flag {
  bool take() noexcept { return false; }
};
template <>
struct taken_flag<true> {
  // take: true if the result was already taken (by any handle of the job, on any thread).
  bool take() noexcept { return taken_.exchange(true, std::memory_order_acq_rel); }
  std::atomic<bool> taken_{false};
};

// throw_result_taken: what a second get() of a move-only result throws.
[[noreturn]] void throw_result_taken(job_id id);

// result_record: a job record that can hold an R.
template <class R>
class result_record : public job_record {
  using stored = std::conditional_t<std::is_reference_v<R>,
                                    std::reference_wrapper<std::remove_reference_t<R>>, R>;
  static constexpr bool move_only = !std::is_reference_v<R> && !std::is_copy_constructible_v<R>;

 public:
  // result: a copy when R is copyable (every handle can get() it); moved out otherwise, once: a
  // second call (through any copy of the handle) throws fiberpool::error instead of handing out
  // a moved-from value.
  R result() {
    if constexpr (std::is_reference_v<R>) return value_->get();
    else if constexpr (std::is_copy_constructible_v<R>) return *value_;
    else {
      if (taken_.take()) throw_result_taken(id());
      return std::move(*value_);
    }
  }
  // take: the result, moved out; for the one reader of a record no handle shares (a map's stream).
  R take() {
    if constexpr (std::is_reference_v<R>) return value_->get();
    else return std::move(*value_);
  }

 protected:
  template <class F>
  void store(F& fn) { value_.emplace(fn()); }

 private:
  std::optional<stored> value_;
  [[no_unique_address]] taken_flag<move_only> taken_;
};

template <>
class result_record<void> : public job_record {
 public:
  void result() {}
  void take() {}

 protected:
  template <class F>
  void store(F& fn) { fn(); }
};

// job_impl: a record that owns its target. Base is result_record<R>, or a record type derived
// from it that carries more (a map's item: map_record).
template <class R, class F, class Base = result_record<R>>
class job_impl final : public Base {
 public:
  explicit job_impl(F&& fn) : fn_(std::move(fn)) {}
  void invoke() override { this->store(*fn_); }
  void drop_target() noexcept override { fn_.reset(); }

 private:
  std::optional<F> fn_;
};

// is_null_callable: a null function pointer or an empty std::function.
template <class F>
bool is_null_callable(const F& f) noexcept {
  if constexpr (std::is_pointer_v<F> || std::is_member_pointer_v<F>) return f == nullptr;
  else if constexpr (requires { typename F::result_type; static_cast<bool>(f); }) return !static_cast<bool>(f);
  else return false;
}

}  // namespace fiberpool::detail
