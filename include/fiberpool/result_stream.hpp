// result_stream: the results of a task_pool::map / map_unordered / starmap, one outcome per item.
#pragma once

#include <cstddef>
#include <cstdint>
#include <exception>
#include <iterator>
#include <memory>
#include <optional>
#include <string>
#include <type_traits>
#include <utility>

#include <fiberpool/detail/map_state.hpp>
#include <fiberpool/errors.hpp>
#include <fiberpool/types.hpp>

namespace fiberpool {

namespace detail {

// outcome_base: what an item's outcome carries whatever its result type.
class outcome_base {
 public:
  // error: the item's exception, or null.
  std::exception_ptr error() const noexcept { return error_; }
  // index: the item's position in the input, from 0 (map_unordered's outcomes come in any order).
  std::uint64_t index() const noexcept { return index_; }
  // id: the item's job; 0 when the item never became one.
  job_id id() const noexcept { return id_; }

 protected:
  std::exception_ptr error_;
  std::uint64_t index_ = 0;
  job_id id_ = 0;
};

}  // namespace detail

// outcome: what one item of a map came to: its job's result, or the exception it ended with.
template <class R>
class outcome : public detail::outcome_base {
 public:
  // has_value: the item's job succeeded.
  bool has_value() const noexcept { return value_.has_value(); }
  // value: the result; rethrows the item's exception otherwise: what the job threw,
  // job_terminated if it was killed, job_cancelled if it was cancelled before it ran, or what
  // kept the item from becoming a job (pool_full from a rejecting pool; what the input range threw).
  R& value() & {
    if (error_) std::rethrow_exception(error_);
    return *value_;
  }
  R&& value() && { return std::move(value()); }

 private:
  template <class>
  friend class result_stream;
  std::optional<R> value_;
};

template <>
class outcome<void> : public detail::outcome_base {
 public:
  bool has_value() const noexcept { return !error_; }
  void value() const {
    if (error_) std::rethrow_exception(error_);
  }

 private:
  template <class>
  friend class result_stream;
};

// A map's results as they come: in input order for map() and starmap(), in completion order for
// map_unordered(). Move-only. Reading it is what lets the map go on: the map pulls its next item
// only while fewer than num_concurrent items are in flight (pulled, and their outcome not yet
// read), so a slow reader slows the map down instead of piling up results. Destroying the stream
// does not stop the map (as dropping a job handle does not stop the job): its jobs go on and their
// results are dropped; to stop it, task_pool::cancel_group(stream.group()). The stream outlives
// its pool safely.
template <class R>
class result_stream {
 public:
  using next_type = std::conditional_t<std::is_void_v<R>, bool, std::optional<R>>;

  result_stream(std::shared_ptr<detail::map_state<R>> state, std::string group)
      : state_(std::move(state)), group_(std::move(group)) {}
  result_stream(result_stream&&) noexcept = default;
  result_stream& operator=(result_stream&& o) noexcept {
    if (this != &o) {
      release();
      state_ = std::move(o.state_);
      group_ = std::move(o.group_);
    }
    return *this;
  }
  ~result_stream() { release(); }

  // next: waits for the next item's result and returns it; nullopt once every item was read.
  // Rethrows that item's exception (see outcome::value()) and stays usable: the following call
  // goes on with the next item. For R = void it returns true for an item and false at the end.
  // Cancellation point.
  next_type next() {
    auto o = next_outcome();
    if constexpr (std::is_void_v<R>) {
      if (!o) return false;
      o->value();
      return true;
    } else {
      if (!o) return std::nullopt;
      return std::optional<R>(std::move(*o).value());
    }
  }

  // next_outcome: as next(), but hands out the outcome instead of rethrowing. Cancellation point.
  std::optional<outcome<R>> next_outcome() {
    auto e = checked().take();
    if (!e) return std::nullopt;
    return make_outcome(std::move(*e));
  }

  // The range interface: for (fiberpool::outcome<R>& o : stream), each step waits like next().
  class iterator {
   public:
    using value_type = outcome<R>;
    using difference_type = std::ptrdiff_t;
    iterator() = default;
    outcome<R>& operator*() const { return *current_; }
    outcome<R>* operator->() const { return &*current_; }
    iterator& operator++() {
      current_ = stream_->next_outcome();
      return *this;
    }
    void operator++(int) { ++*this; }
    friend bool operator==(const iterator& i, std::default_sentinel_t) { return !i.current_; }

   private:
    friend class result_stream;
    explicit iterator(result_stream* s) : stream_(s), current_(s->next_outcome()) {}
    result_stream* stream_ = nullptr;
    mutable std::optional<outcome<R>> current_;
  };
  // begin: waits for the first outcome.
  iterator begin() { return iterator(this); }
  std::default_sentinel_t end() const noexcept { return {}; }

  // group: the map's task group (job_options::group, or the name the pool made up, "map-<n>").
  const std::string& group() const noexcept { return group_; }
  // ordered: results come in input order (map, starmap) rather than completion order.
  bool ordered() const { return checked().ordered(); }
  // stopped: the map was stopped (cancel_group, cancel_all, terminate) before it pulled its whole
  // input; the stream ends after the outcomes of the items it had pulled.
  bool stopped() const { return checked().stopped(); }

 private:
  detail::map_state<R>& checked() const {
    if (!state_)
      throw fiberpool::error("fiberpool: this result_stream was moved from; read the stream it was moved to");
    return *state_;
  }

  void release() noexcept {
    if (state_) state_->drop_consumer();
    state_.reset();
  }

  static outcome<R> make_outcome(detail::map_entry<R>&& e) {
    outcome<R> o;
    o.index_ = e.index;
    if (!e.rec) {
      o.error_ = std::move(e.error);
      return o;
    }
    o.id_ = e.rec->id();
    job_state end = e.rec->state();
    if (end == job_state::succeeded) {
      if constexpr (!std::is_void_v<R>) o.value_.emplace(e.rec->take());
    } else if (end == job_state::failed || end == job_state::terminated) {
      o.error_ = e.rec->take_error();
    } else {
      try {
        e.rec->rethrow_failure();
      } catch (...) {
        o.error_ = std::current_exception();
      }
    }
    return o;
  }

  std::shared_ptr<detail::map_state<R>> state_;
  std::string group_;
};

}  // namespace fiberpool
