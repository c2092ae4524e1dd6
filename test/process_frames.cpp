// The parent's reader of worker frames (lib/process/frames.*), fed random and mutated bytes: it
// returns whole frames, asks for more, or throws frames::malformed; it never reads past what it
// was given, never buffers a body above its bound, and never crashes (run under ASan in CI).
#include <doctest/doctest.h>

#include <cstdlib>
#include <random>
#include <string>

#include "process/frames.hpp"

namespace fr = fiberpool::detail::frames;

namespace {

std::size_t fuzz_rounds() {
  const char* env = std::getenv("FIBERPOOL_FUZZ_ROUNDS");  // CI: the default; longer runs set it
  return env ? std::strtoull(env, nullptr, 10) : 20000;
}

std::string valid_stream(std::mt19937_64& rng) {
  std::string out;
  for (int i = 0, n = static_cast<int>(rng() % 6); i < n; ++i) {
    switch (rng() % 5) {
      case 0: fr::put_hello(out, static_cast<int>(rng() % 100000) + 1); break;
      case 1: fr::put_done(out, rng(), fr::outcome::succeeded, rng(), {}, std::string(rng() % 300, 'r')); break;
      case 2: fr::put_done(out, rng(), fr::outcome::failed, 0, "std::runtime_error", "why"); break;
      case 3: fr::put_run(out, rng(), std::nullopt, "echo", std::string(rng() % 300, 'p')); break;
      default: fr::put_kill(out, rng(), 15); break;
    }
  }
  return out;
}

// parse_all: every frame of `bytes` fed in random pieces, each decoded by its kind. Returns the
// frames decoded, or -1 if the reader or a decoder refused the stream.
int parse_all(std::mt19937_64& rng, const std::string& bytes, std::size_t max_body) {
  fr::reader in(max_body);
  int frames = 0;
  try {
    for (std::size_t pos = 0; pos < bytes.size();) {
      std::size_t n = std::min<std::size_t>(bytes.size() - pos, 1 + rng() % 97);
      in.feed(std::string_view(bytes).substr(pos, n));
      pos += n;
      while (auto f = in.next()) {
        REQUIRE(f->body.size() <= max_body);
        switch (f->what) {
          case fr::kind::run: fr::parse_run(f->body); break;
          case fr::kind::kill: fr::parse_kill(f->body); break;
          case fr::kind::hello: fr::parse_hello(f->body); break;
          case fr::kind::done: fr::parse_done(f->body); break;
          case fr::kind::retire: break;
        }
        ++frames;
      }
      REQUIRE(in.buffered() <= max_body + fr::header_size + 97);
    }
  } catch (const fr::malformed&) {
    return -1;
  }
  return frames;
}

}  // namespace

TEST_CASE("frames round-trip: what the encoders write, the reader returns in any split") {
  std::mt19937_64 rng(7);
  for (int i = 0; i < 2000; ++i) {
    std::string out;
    fr::put_run(out, 42, std::chrono::milliseconds(5), "task", "payload");
    fr::put_done(out, 42, fr::outcome::failed, 1234, "std::logic_error", "message");
    fr::put_kill(out, 42, 9);
    fr::put_retire(out);
    CHECK(parse_all(rng, out, 1000) == 4);
  }
  fr::reader in(1000);
  std::string out;
  fr::put_run(out, 7, std::nullopt, "t", "body");
  in.feed(out);
  auto f = in.next();
  REQUIRE(f);
  auto r = fr::parse_run(f->body);
  CHECK(r.job == 7);
  CHECK_FALSE(r.soft_limit);
  CHECK(r.task == "t");
  CHECK(r.payload == "body");
}

TEST_CASE("the reader refuses a length above its bound before buffering the body, and unknown kinds") {
  fr::reader in(100);
  std::string out;
  fr::put_done(out, 1, fr::outcome::succeeded, 0, {}, std::string(101 - 17, 'x'));  // body 101 bytes
  in.feed(std::string_view(out).substr(0, fr::header_size));  // only the header has arrived
  CHECK_THROWS_AS(in.next(), fr::malformed);
  fr::reader other(100);
  other.feed(std::string("\x01\x00\x00\x00\x63x", 6));  // kind 99
  CHECK_THROWS_AS(other.next(), fr::malformed);
  // A done frame whose type length runs past its body.
  std::string bad;
  fr::put_done(bad, 1, fr::outcome::failed, 0, "type", "");
  bad[fr::header_size + 17] = '\x7f';
  fr::reader third(1000);
  third.feed(bad);
  auto f = third.next();
  REQUIRE(f);
  CHECK_THROWS_AS(fr::parse_done(f->body), fr::malformed);
}

TEST_CASE("fuzz: random and mutated frame streams are parsed or refused, never crash") {
  std::mt19937_64 rng(12345);
  std::size_t refused = 0, parsed = 0;
  const std::size_t rounds = fuzz_rounds();
  for (std::size_t i = 0; i < rounds; ++i) {
    std::string bytes = valid_stream(rng);
    switch (rng() % 4) {
      case 0: break;  // as written
      case 1:         // flip bytes
        for (int k = 0, n = 1 + static_cast<int>(rng() % 8); k < n && !bytes.empty(); ++k)
          bytes[rng() % bytes.size()] = static_cast<char>(rng());
        break;
      case 2:  // pure garbage
        bytes.resize(rng() % 512);
        for (auto& c : bytes) c = static_cast<char>(rng());
        break;
      default:  // truncated or with garbage appended
        if (rng() % 2 && !bytes.empty()) bytes.resize(rng() % bytes.size());
        else bytes.append(std::string(rng() % 64, static_cast<char>(rng())));
        break;
    }
    (parse_all(rng, bytes, 256 + rng() % 4096) < 0 ? refused : parsed)++;
  }
  MESSAGE("frames fuzz: " << rounds << " streams, " << parsed << " parsed, " << refused << " refused");
  CHECK(refused > 0);
  CHECK(parsed > 0);
}
