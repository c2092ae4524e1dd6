// live_table: the pool's live jobs by id, without an allocation per job.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

#include <fiberpool/types.hpp>

namespace fiberpool::detail {

class job_record;

// Open addressing with linear probing and backward-shift deletion (no tombstones, so a long-lived
// pool's table does not rot). Ids are never 0, so 0 marks an empty slot. It allocates only when it
// grows past half full; apply() and a job's end just write a slot. Guarded by the pool's lock.
class live_table {
 public:
  live_table() : slots_(64) {}

  void insert(job_id id, job_record* rec) {
    if ((size_ + 1) * 2 > slots_.size()) grow();
    place(id, rec);
    ++size_;
  }

  job_record* find(job_id id) const noexcept {
    for (std::size_t i = home(id);; i = next(i)) {
      if (slots_[i].id == id) return slots_[i].rec;
      if (slots_[i].id == 0) return nullptr;
    }
  }

  void erase(job_id id) noexcept {
    std::size_t i = home(id);
    while (slots_[i].id != id) {
      if (slots_[i].id == 0) return;
      i = next(i);
    }
    // Shift later members of the probe run back into the hole so lookups never stop early.
    for (std::size_t j = next(i);; j = next(j)) {
      if (slots_[j].id == 0) break;
      std::size_t h = home(slots_[j].id);
      bool movable = i <= j ? (h <= i || h > j) : (h <= i && h > j);
      if (movable) {
        slots_[i] = slots_[j];
        i = j;
      }
    }
    slots_[i] = {};
    --size_;
  }

  std::size_t size() const noexcept { return size_; }

  template <class F>
  void for_each(F&& f) const {
    for (const auto& s : slots_)
      if (s.id != 0) f(s.id, s.rec);
  }

 private:
  struct slot {
    job_id id = 0;
    job_record* rec = nullptr;
  };

  std::size_t home(job_id id) const noexcept {
    // Fibonacci hashing: consecutive ids (the common case) spread over the table.
    return static_cast<std::size_t>((id * 0x9E3779B97F4A7C15ull) >> 17) & (slots_.size() - 1);
  }
  std::size_t next(std::size_t i) const noexcept { return (i + 1) & (slots_.size() - 1); }

  void place(job_id id, job_record* rec) noexcept {
    std::size_t i = home(id);
    while (slots_[i].id != 0) i = next(i);
    slots_[i] = {id, rec};
  }

  void grow() {
    std::vector<slot> old(slots_.size() * 2);
    old.swap(slots_);
    for (const auto& s : old)
      if (s.id != 0) place(s.id, s.rec);
  }

  std::vector<slot> slots_;
  std::size_t size_ = 0;
};

}  // namespace fiberpool::detail
