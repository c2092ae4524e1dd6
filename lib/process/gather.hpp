// gather: letting frames gather in an outbox before it is written.
#pragma once

#include <cstddef>

#include <fiberpool/this_job.hpp>

namespace fiberpool::detail {

// let_frames_gather: called by a writer fiber that was woken for a frame, before it takes the
// outbox. The fibers ready on its thread run first, as long as they keep adding frames: the jobs
// woken by one batch of ends each queue their next frame, some only after a few switches (a
// job's end, the next job's start), and then they all leave in one send() instead of one each. A
// send() costs microseconds, a switch tens of nanoseconds; a round that adds nothing ends it.
template <class OutboxSize>
void let_frames_gather(OutboxSize outbox_size) {
  constexpr int max_rounds = 16;  // bounds the delay of the first frame when frames keep coming
  for (int round = 0; round < max_rounds; ++round) {
    const std::size_t before = outbox_size();
    this_job::yield();  // outside a job: a plain yield, no cancellation point
    if (outbox_size() == before) return;
  }
}

}  // namespace fiberpool::detail
