// frames: what a process_pool parent and its workers say to each other over their socket.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>

namespace fiberpool::detail::frames {

// A frame is a 4-byte body length, a 1-byte kind and the body. Both ends are the same program on
// the same machine, so numbers travel in the machine's own byte order. Nobody trusts a length it
// did not check: a reader refuses a body above its bound before it buffers it.
enum class kind : std::uint8_t {
  // parent -> worker
  run = 1,      // u64 job, i64 soft limit ns (-1: none), u16 task name length, name, payload
  kill = 2,     // u64 job, i32 signal
  retire = 3,   // (empty) take no more jobs, finish these, exit 0
  // worker -> parent
  hello = 10,   // i32 pid
  done = 11,    // u64 job, u8 outcome, u64 rss bytes (0: not measured), then by outcome:
                //   succeeded: the result; failed: u16 type length, type, message; killed: message
};

enum class outcome : std::uint8_t { succeeded = 0, failed = 1, killed = 2 };

constexpr std::size_t header_size = 5;
// Room for a frame's fixed fields and a task or type name on top of the payload bound.
constexpr std::size_t overhead = 64 * 1024;

class malformed : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

struct run_frame { std::uint64_t job; std::optional<std::chrono::nanoseconds> soft_limit; std::string_view task; std::string_view payload; };
struct kill_frame { std::uint64_t job; int signal; };
struct done_frame { std::uint64_t job; outcome how; std::uint64_t rss; std::string_view type; std::string_view text; };

// Encoders append one whole frame to `out` (so frames to one peer batch into one write).
void put_run(std::string& out, std::uint64_t job, std::optional<std::chrono::nanoseconds> soft_limit,
             std::string_view task, std::string_view payload);
void put_kill(std::string& out, std::uint64_t job, int signal);
void put_retire(std::string& out);
void put_hello(std::string& out, int pid);
void put_done(std::string& out, std::uint64_t job, outcome how, std::uint64_t rss, std::string_view type,
              std::string_view text);

// Decoders check the body's whole layout: malformed otherwise.
run_frame parse_run(std::string_view body);
kill_frame parse_kill(std::string_view body);
int parse_hello(std::string_view body);
done_frame parse_done(std::string_view body);

// reader: frames out of a byte stream read in pieces. feed() the bytes read; next() returns each
// whole frame in turn (its body valid until the next feed() or next()), nullopt when it needs
// more, and throws malformed for a body above max_body or an unknown kind.
class reader {
 public:
  explicit reader(std::size_t max_body) : max_body_(max_body) {}
  void feed(std::string_view bytes);
  struct frame { kind what; std::string_view body; };
  std::optional<frame> next();
  std::size_t buffered() const noexcept { return buf_.size() - pos_; }

 private:
  std::size_t max_body_;
  std::string buf_;
  std::size_t pos_ = 0;  // start of the first frame not yet returned
};

}  // namespace fiberpool::detail::frames
