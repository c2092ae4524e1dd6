// map_runner: a map's feeder loop, typed on its input view and its function.
#pragma once

#include <cstdint>
#include <exception>
#include <functional>
#include <memory>
#include <ranges>
#include <tuple>
#include <type_traits>
#include <utility>

#include <fiberpool/detail/map_feeder.hpp>
#include <fiberpool/detail/map_state.hpp>
#include <fiberpool/errors.hpp>
#include <fiberpool/options.hpp>

namespace fiberpool::detail {

// call_item / call_tuple: how a map's job applies f to its item: f(item) for map and
// map_unordered, std::apply(f, item) for starmap. Every job of a map calls the same f, from many
// threads at once, so it is called as const.
template <class F>
struct call_item {
  F fn;
  template <class T>
  decltype(auto) operator()(T&& item) const { return std::invoke(fn, std::forward<T>(item)); }
};

template <class F>
struct call_tuple {
  F fn;
  template <class T>
  decltype(auto) operator()(T&& item) const { return std::apply(fn, std::forward<T>(item)); }
};

// map_result_t: what a map's stream yields: f's result by value (a reference is copied, so the
// stream never refers into a job that has ended).
template <class Call, class Item>
using map_result_t = std::remove_cvref_t<std::invoke_result_t<const Call&, Item&&>>;

template <class R, class View, class Call>
class map_runner final : public map_feeder {
 public:
  using item_type = std::remove_cvref_t<std::ranges::range_reference_t<View>>;

  map_runner(std::shared_ptr<map_state<R>> state, View view, Call call, job_options opts)
      : state_(std::move(state)),
        view_(std::move(view)),
        call_(std::make_shared<const Call>(std::move(call))),
        opts_(std::move(opts)) {
    listener = state_;
  }

  void feed() noexcept override {
    std::uint64_t index = 0;
    try {
      auto it = std::ranges::begin(view_);
      auto end = std::ranges::end(view_);
      // Laziness: the next item is pulled (the iterator advanced, the element read) only once the
      // window has room for it.
      for (;; ++index) {
        state_->wait_for_room();
        if (index > 0) ++it;
        if (it == end) break;
        apply_one(index, *it);
      }
      input_done_ = true;
    } catch (const job_terminated&) {
      // Stopped: what the loop was doing when the stop came is simply not done.
    } catch (...) {
      input_done_ = true;
      state_->input_failed(index, std::current_exception());
    }
  }

  void finish() noexcept override { state_->finish(!input_done_); }
  void unbound() noexcept override { state_->unbound(); }

 private:
  // One item's job: owns its item and shares f with the map's other jobs.
  struct target {
    std::shared_ptr<const Call> call;
    item_type item;
    R operator()() {
      if constexpr (std::is_void_v<R>) (*call)(std::move(item));
      else return (*call)(std::move(item));
    }
  };

  template <class Ref>
  void apply_one(std::uint64_t index, Ref&& element) {
    job_options o = opts_;
    o.group = group_name;
    auto* rec = new map_item<R, target>(target{call_, item_type(std::forward<Ref>(element))});
    rec->index = index;
    ref_ptr<map_record<R>> mine(rec);
    state_->begin_item(mine);
    rec->add_ref();  // the pool's reference, adopted by apply_item()
    try {
      apply_item(*rec, std::move(o));
    } catch (const job_terminated&) {
      state_->item_refused(index, nullptr);
      throw;
    } catch (...) {
      state_->item_refused(index, std::current_exception());
    }
  }

  std::shared_ptr<map_state<R>> state_;
  View view_;
  std::shared_ptr<const Call> call_;
  job_options opts_;
  bool input_done_ = false;  // the input ran out (or threw): the map was not cut short
};

}  // namespace fiberpool::detail
