// map_state: what a map's feeder, its item jobs and its result_stream share: the window of items
// in flight and the outcomes waiting for the consumer.
#pragma once

#include <cstddef>
#include <cstdint>
#include <deque>
#include <exception>
#include <mutex>
#include <optional>
#include <utility>

#include <fiberpool/detail/job_record.hpp>
#include <fiberpool/detail/spin_mutex.hpp>
#include <fiberpool/detail/wait.hpp>

namespace fiberpool::detail {

// map_record: the job record of one map item; `index` is the item's position in the input.
template <class R>
class map_record : public result_record<R> {
 public:
  std::uint64_t index = 0;
};

template <class R, class F>
using map_item = job_impl<R, F, map_record<R>>;

// One item as the consumer gets it: an ended job, or the error that kept it from becoming one.
template <class R>
struct map_entry {
  ref_ptr<map_record<R>> rec;   // null when the item never became a job
  std::exception_ptr error;     // then: why (apply() refused it, or the input range threw)
  std::uint64_t index = 0;
  bool ended = false;           // ordered maps: the job's end is recorded, the entry can be taken
};

// The window: an item is in flight from the moment the feeder pulls it until the consumer takes
// its outcome, and the feeder pulls only while fewer than `window` items are in flight. That
// bounds both the running jobs and the finished results waiting for a slow consumer, so memory
// does not grow with the input. Two cases count only unfinished jobs: the consumer is gone (the
// stream was destroyed; outcomes are dropped), or the map was unbound (gather_and_close(), stop():
// the map must finish without its consumer; outcomes are kept for it).
template <class R>
class map_state final : public end_listener {
 public:
  map_state(bool ordered, std::size_t window) : ordered_(ordered), window_(window) {}

  // --- the feeder ---
  // wait_for_room: returns once one more item may be pulled. Cancellation point, checked last:
  // cancel_group() stops the feeder before it kills the jobs, and those kills make room, so a
  // feeder woken by the room they make must still see its stop rather than pull another item.
  void wait_for_room() {
    for (;;) {
      bool room = false;
      {
        std::unique_lock lk(mu_);
        while (!(room = unfinished_ + (holds_outcomes() && bounded_ ? unconsumed_ : 0) < window_) &&
               wait_on(feeder_waiters_, lk, std::nullopt, {"map room", this}) != wait_status::cancelled) {
        }
      }
      detail::raise_cancellation();
      if (room) return;
    }
  }

  // begin_item: an item's job is about to be applied. An ordered map keeps its place in line now,
  // so the outcome can be handed out in input order whatever order the jobs end in.
  void begin_item(const ref_ptr<map_record<R>>& rec) {
    std::lock_guard lk(mu_);
    if (ordered_ && holds_outcomes()) entries_.push_back(map_entry<R>{rec, nullptr, rec->index, false});
    ++unfinished_;
  }

  // item_refused: apply() did not accept the item's job. With an error, that error is the item's
  // outcome; without one (the feeder was stopped) the item is dropped, as if never pulled.
  void item_refused(std::uint64_t index, std::exception_ptr error) noexcept {
    map_entry<R> dropped;
    {
      std::lock_guard lk(mu_);
      --unfinished_;
      if (!holds_outcomes()) return;
      if (!error) {
        if (ordered_) {  // the last entry: the feeder applies one item at a time
          dropped = std::move(entries_.back());
          entries_.pop_back();
        }
        return;
      }
      ++unconsumed_;
      if (ordered_) {
        map_entry<R>& e = entries_.back();
        dropped.rec = std::move(e.rec);
        e.error = std::move(error);
        e.ended = true;
      } else {
        done_.push_back(map_entry<R>{{}, std::move(error), index, true});
      }
      consumer_waiters_.notify_all();
    }
  }

  // input_failed: the input range threw; that is the outcome of the item it was producing, and
  // the last one: an iterator that threw cannot be trusted to go on.
  void input_failed(std::uint64_t index, std::exception_ptr error) noexcept {
    std::lock_guard lk(mu_);
    if (!holds_outcomes()) return;
    ++unconsumed_;
    if (ordered_) entries_.push_back(map_entry<R>{{}, std::move(error), index, true});
    else done_.push_back(map_entry<R>{{}, std::move(error), index, true});
    consumer_waiters_.notify_all();
  }

  // finish: the feeder applies nothing more; `stopped`: it was stopped before the input ended.
  void finish(bool stopped) noexcept {
    std::lock_guard lk(mu_);
    finished_ = true;
    stopped_ = stopped;
    consumer_waiters_.notify_all();
  }

  void unbound() noexcept {
    std::lock_guard lk(mu_);
    bounded_ = false;
    feeder_waiters_.notify_all();
  }

  // --- the item jobs ---
  void job_recorded(job_record& job) noexcept override {
    auto& rec = static_cast<map_record<R>&>(job);
    std::lock_guard lk(mu_);
    --unfinished_;
    if (holds_outcomes()) {
      ++unconsumed_;
      if (ordered_) entries_[static_cast<std::size_t>(rec.index - head_index_)].ended = true;
      else {
        rec.add_ref();
        done_.push_back(map_entry<R>{ref_ptr<map_record<R>>(&rec), nullptr, rec.index, true});
      }
      consumer_waiters_.notify_all();
    }
    feeder_waiters_.notify_all();
  }

  // --- the consumer ---
  // take: the next outcome (input order or completion order); nullopt once the feeder finished
  // and every outcome was taken. Cancellation point.
  std::optional<map_entry<R>> take() {
    detail::raise_cancellation();
    std::unique_lock lk(mu_);
    for (;;) {
      std::deque<map_entry<R>>& q = ordered_ ? entries_ : done_;
      if (!q.empty() && q.front().ended) {
        map_entry<R> e = std::move(q.front());
        q.pop_front();
        head_index_ = e.index + 1;
        --unconsumed_;
        feeder_waiters_.notify_all();
        return e;
      }
      if (finished_ && unfinished_ == 0 && q.empty()) return std::nullopt;
      if (wait_on(consumer_waiters_, lk, std::nullopt, {"map result", this}) == wait_status::cancelled) {
        lk.unlock();
        detail::raise_cancellation();
        lk.lock();
      }
    }
  }

  // drop_consumer: the stream is gone; outcomes from now on are dropped, and so are those waiting.
  void drop_consumer() noexcept {
    std::deque<map_entry<R>> entries, done;
    {
      std::lock_guard lk(mu_);
      consumer_gone_ = true;
      unconsumed_ = 0;
      entries.swap(entries_);
      done.swap(done_);
      feeder_waiters_.notify_all();
    }
    // The records (and the results they hold) are released here, outside the lock.
  }

  bool stopped() const {
    std::lock_guard lk(mu_);
    return stopped_;
  }
  bool ordered() const noexcept { return ordered_; }

 private:
  bool holds_outcomes() const noexcept { return !consumer_gone_; }

  const bool ordered_;
  const std::size_t window_;
  mutable spin_mutex mu_;
  wait_list feeder_waiters_;
  wait_list consumer_waiters_;
  std::deque<map_entry<R>> entries_;  // ordered: every item in flight, in input order
  std::deque<map_entry<R>> done_;     // unordered: ended items, in completion order
  std::uint64_t head_index_ = 0;      // ordered: index of entries_.front()
  std::size_t unfinished_ = 0;        // pulled, and the job not yet ended
  std::size_t unconsumed_ = 0;        // ended (or refused), and not yet taken
  bool bounded_ = true;
  bool consumer_gone_ = false;
  bool finished_ = false;
  bool stopped_ = false;
};

}  // namespace fiberpool::detail
