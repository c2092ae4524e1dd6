// ended_log: the ids of a pool's ended jobs and whether each was cancelled, kept until flush().
#pragma once

#include <algorithm>
#include <array>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <new>
#include <vector>

#include <fiberpool/types.hpp>

namespace fiberpool::detail {

// cancel() must tell an ended job (already_ended, already_cancelled) from an id the pool never
// knew (invalid_job_id), so every end is written down: 8 bytes a job, appended to fixed blocks.
// A job's end only writes a word (and every `block_ids` ends allocates a block: no large copy, no
// rehash, under the pool's lock). Lookups are rare (cancel()) and scan block bounds: jobs end
// roughly in id order, so a block's id range is narrow and only one or two blocks are searched.
// Guarded by the pool's lock.
class ended_log {
 public:
  enum class end_kind { unknown, ended, cancelled };
  static constexpr std::size_t block_ids = 2048;

  // add: records an end. Never throws: if no block can be allocated the end goes unrecorded, and
  // cancel() will call the id unknown rather than ended.
  void add(job_id id, bool cancelled) noexcept {
    if (blocks_.empty() || blocks_.back()->n == block_ids) {
      if (blocks_.size() == blocks_.capacity()) {
        try {
          blocks_.reserve(blocks_.size() * 2 + 8);
        } catch (...) {
          return;
        }
      }
      auto* b = new (std::nothrow) block;
      if (!b) return;
      blocks_.emplace_back(b);
    }
    block& b = *blocks_.back();
    std::uint64_t v = (id << 1) | (cancelled ? 1 : 0);
    b.v[b.n++] = v;
    b.lo = std::min(b.lo, v);
    b.hi = std::max(b.hi, v);
    ++size_;
  }

  end_kind find(job_id id) const noexcept {
    const std::uint64_t lo = id << 1, hi = lo | 1;
    for (const auto& b : blocks_) {
      if (b->hi < lo || b->lo > hi) continue;
      for (std::size_t i = 0; i < b->n; ++i)
        if ((b->v[i] | 1) == hi) return b->v[i] & 1 ? end_kind::cancelled : end_kind::ended;
    }
    return end_kind::unknown;
  }

  std::size_t size() const noexcept { return size_; }
  // bytes: the memory the log holds now.
  std::size_t bytes() const noexcept { return blocks_.size() * sizeof(block) + blocks_.capacity() * sizeof(void*); }

 private:
  struct block {
    std::array<std::uint64_t, block_ids> v;
    std::size_t n = 0;
    std::uint64_t lo = UINT64_MAX;
    std::uint64_t hi = 0;
  };
  std::vector<std::unique_ptr<block>> blocks_;
  std::size_t size_ = 0;
};

}  // namespace fiberpool::detail
