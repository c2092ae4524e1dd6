// frames: encoding and checked decoding of the parent <-> worker frames.
#include "process/frames.hpp"

#include <algorithm>
#include <cstring>
#include <limits>

namespace fiberpool::detail::frames {
namespace {

template <class T>
void put(std::string& out, T v) {
  char bytes[sizeof(T)];
  std::memcpy(bytes, &v, sizeof(T));
  out.append(bytes, sizeof(T));
}

void begin(std::string& out, kind k, std::size_t body) {
  if (body > std::numeric_limits<std::uint32_t>::max())
    throw std::length_error("fiberpool: a process_pool frame above 4 GiB cannot be sent");
  put<std::uint32_t>(out, static_cast<std::uint32_t>(body));
  put<std::uint8_t>(out, static_cast<std::uint8_t>(k));
}

// cursor: reads fixed fields off a body, malformed when it runs short.
struct cursor {
  std::string_view rest;
  template <class T>
  T get() {
    if (rest.size() < sizeof(T)) throw malformed("fiberpool: a process_pool frame ended inside a field");
    T v;
    std::memcpy(&v, rest.data(), sizeof(T));
    rest.remove_prefix(sizeof(T));
    return v;
  }
  std::string_view take(std::size_t n) {
    if (rest.size() < n) throw malformed("fiberpool: a process_pool frame ended inside a string");
    auto s = rest.substr(0, n);
    rest.remove_prefix(n);
    return s;
  }
};

}  // namespace

void put_run(std::string& out, std::uint64_t job, std::optional<std::chrono::nanoseconds> soft_limit,
             std::string_view task, std::string_view payload) {
  if (task.size() > std::numeric_limits<std::uint16_t>::max())
    throw std::length_error("fiberpool: a task name above 65,535 bytes");
  begin(out, kind::run, 8 + 8 + 2 + task.size() + payload.size());
  put<std::uint64_t>(out, job);
  put<std::int64_t>(out, soft_limit ? std::max<std::int64_t>(0, soft_limit->count()) : -1);
  put<std::uint16_t>(out, static_cast<std::uint16_t>(task.size()));
  out.append(task);
  out.append(payload);
}

void put_kill(std::string& out, std::uint64_t job, int signal) {
  begin(out, kind::kill, 12);
  put<std::uint64_t>(out, job);
  put<std::int32_t>(out, signal);
}

void put_retire(std::string& out) { begin(out, kind::retire, 0); }

void put_hello(std::string& out, int pid) {
  begin(out, kind::hello, 4);
  put<std::int32_t>(out, pid);
}

void put_done(std::string& out, std::uint64_t job, outcome how, std::uint64_t rss, std::string_view type,
              std::string_view text) {
  const std::size_t type_field = how == outcome::failed ? 2 + std::min<std::size_t>(type.size(), 65535) : 0;
  begin(out, kind::done, 8 + 1 + 8 + type_field + text.size());
  put<std::uint64_t>(out, job);
  put<std::uint8_t>(out, static_cast<std::uint8_t>(how));
  put<std::uint64_t>(out, rss);
  if (how == outcome::failed) {
    type = type.substr(0, 65535);
    put<std::uint16_t>(out, static_cast<std::uint16_t>(type.size()));
    out.append(type);
  }
  out.append(text);
}

run_frame parse_run(std::string_view body) {
  cursor c{body};
  run_frame f{};
  f.job = c.get<std::uint64_t>();
  auto soft = c.get<std::int64_t>();
  if (soft < -1) throw malformed("fiberpool: a process_pool run frame with a negative soft limit");
  if (soft >= 0) f.soft_limit = std::chrono::nanoseconds(soft);
  f.task = c.take(c.get<std::uint16_t>());
  f.payload = c.rest;
  return f;
}

kill_frame parse_kill(std::string_view body) {
  cursor c{body};
  kill_frame f{};
  f.job = c.get<std::uint64_t>();
  f.signal = c.get<std::int32_t>();
  if (!c.rest.empty()) throw malformed("fiberpool: a process_pool kill frame with bytes after its fields");
  return f;
}

int parse_hello(std::string_view body) {
  cursor c{body};
  int pid = c.get<std::int32_t>();
  if (!c.rest.empty() || pid <= 0) throw malformed("fiberpool: a process_pool hello frame that is not one pid");
  return pid;
}

done_frame parse_done(std::string_view body) {
  cursor c{body};
  done_frame f{};
  f.job = c.get<std::uint64_t>();
  auto how = c.get<std::uint8_t>();
  if (how > static_cast<std::uint8_t>(outcome::killed))
    throw malformed("fiberpool: a process_pool done frame with an unknown outcome");
  f.how = static_cast<outcome>(how);
  f.rss = c.get<std::uint64_t>();
  if (f.how == outcome::failed) f.type = c.take(c.get<std::uint16_t>());
  f.text = c.rest;
  return f;
}

void reader::feed(std::string_view bytes) {
  if (pos_ > 0 && pos_ == buf_.size()) {
    buf_.clear();
    pos_ = 0;
  } else if (pos_ > 64 * 1024 && pos_ * 2 > buf_.size()) {
    buf_.erase(0, pos_);  // keep the buffer from growing with the bytes already handed out
    pos_ = 0;
  }
  buf_.append(bytes);
}

std::optional<reader::frame> reader::next() {
  std::string_view rest(buf_.data() + pos_, buf_.size() - pos_);
  if (rest.size() < header_size) return std::nullopt;
  std::uint32_t body;
  std::memcpy(&body, rest.data(), sizeof body);
  auto k = static_cast<kind>(static_cast<std::uint8_t>(rest[4]));
  switch (k) {
    case kind::run: case kind::kill: case kind::retire: case kind::hello: case kind::done: break;
    default: throw malformed("fiberpool: a process_pool frame of unknown kind " + std::to_string(int(rest[4])));
  }
  if (body > max_body_)
    throw malformed("fiberpool: a process_pool frame of " + std::to_string(body) + " bytes, above the bound of " +
                    std::to_string(max_body_));
  if (rest.size() - header_size < body) return std::nullopt;
  pos_ += header_size + body;
  return frame{k, rest.substr(header_size, body)};
}

}  // namespace fiberpool::detail::frames
