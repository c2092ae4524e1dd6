// Shared test helpers: run a body with 1 and 2 scheduler threads, leak checks, log capture.
#pragma once

#include <chrono>
#include <future>
#include <thread>
#include <cstddef>
#include <memory>
#include <mutex>
#include <string>
#include <utility>

#include <sys/wait.h>
#include <unistd.h>

#include <doctest/doctest.h>
#include <spdlog/sinks/base_sink.h>
#include <spdlog/spdlog.h>

#include <fiberpool/fiberpool.hpp>

namespace fiberpool_test {

using namespace std::chrono_literals;

// A generous bound for waits that must succeed; tests never assert on timing, only use this to
// turn a hang into a failure on a slow, loaded machine.
inline constexpr auto patience = std::chrono::seconds(30);

// check_no_leaks: every fiber, job record and stack is gone (call after pools are destroyed).
inline void check_no_leaks() {
  auto c = fiberpool::diagnostics::snapshot();
  CHECK_MESSAGE(c.fibers == 0, "fibers left: ", c.fibers);
  CHECK_MESSAGE(c.job_records == 0, "job records left: ", c.job_records);
  CHECK_MESSAGE(c.stacks_in_use == 0, "stacks left: ", c.stacks_in_use);
  CHECK_MESSAGE(c.runtimes == 0, "runtimes left: ", c.runtimes);
}

// with_threads: runs body(threads) for 1 and 2 scheduler threads, then checks for leaks.
template <class F>
void with_threads(F&& body) {
  for (std::size_t threads : {std::size_t{1}, std::size_t{2}}) {
    CAPTURE(threads);
    body(threads);
    check_no_leaks();
  }
}

// pool_opts: pool_options with the given thread count (and optional limit).
inline fiberpool::pool_options pool_opts(std::size_t threads, std::size_t limit = 1000) {
  fiberpool::pool_options o;
  o.threads = threads;
  o.limit = limit;
  return o;
}

// eventually: polls pred until it holds or `patience` runs out. Only for states no primitive
// reports (a count another thread bumps, a log line); waits on fiberpool primitives are better.
template <class P>
bool eventually(P pred) {
  const auto deadline = fiberpool::clock::now() + patience;
  while (!pred()) {
    if (fiberpool::clock::now() > deadline) return false;
    std::this_thread::sleep_for(1ms);
  }
  return true;
}

// settle: gives a broken library the time to show a wrong action (a job that should not start, a
// call that should still be waiting). A correct library never needs it; nothing asserts on time.
inline void settle() { std::this_thread::sleep_for(20ms); }

// finishes_within_patience: runs fn on a helper thread; if it has not returned within patience,
// calls unstick() so that it can, and returns false. Turns a hang into a failure.
template <class F, class U>
bool finishes_within_patience(F fn, U unstick) {
  std::promise<void> done;
  auto result = done.get_future();
  std::thread helper([&] {
    try {
      fn();
      done.set_value();
    } catch (...) {
      done.set_exception(std::current_exception());
    }
  });
  const bool in_time = result.wait_for(patience) == std::future_status::ready;
  if (!in_time) unstick();
  helper.join();
  result.get();
  return in_time;
}

// count_of: how many times `what` occurs in `text` (log lines, mostly).
inline std::size_t count_of(const std::string& text, const std::string& what) {
  std::size_t n = 0;
  for (auto pos = text.find(what); pos != std::string::npos; pos = text.find(what, pos + 1)) ++n;
  return n;
}

// capture_sink: keeps what it is given; text() reads it under the sink's own lock, so a test may
// read while pool threads log (an ostream sink read through another lock is a data race: TSan).
class capture_sink final : public spdlog::sinks::base_sink<std::mutex> {
 public:
  std::string text() {
    std::lock_guard lk(mutex_);
    return text_;
  }

 protected:
  void sink_it_(const spdlog::details::log_msg& msg) override {
    spdlog::memory_buf_t formatted;
    formatter_->format(msg, formatted);
    text_.append(formatted.data(), formatted.size());
  }
  void flush_() override {}

 private:
  std::string text_;
};

// log_capture: a logger whose output tests can read.
class log_capture {
 public:
  log_capture() : sink_(std::make_shared<capture_sink>()) {
    logger_ = std::make_shared<spdlog::logger>("test-capture", sink_);
    logger_->set_level(spdlog::level::trace);
    logger_->set_pattern("%l %v");
  }
  std::shared_ptr<spdlog::logger> logger() const { return logger_; }
  std::string text() { return sink_->text(); }

 private:
  std::shared_ptr<capture_sink> sink_;
  std::shared_ptr<spdlog::logger> logger_;
};

// Saves the library-wide logger and puts it back when the test ends, whatever happens.
class logger_guard {
 public:
  logger_guard() : saved_(fiberpool::logger()) {}
  ~logger_guard() { fiberpool::set_logger(saved_); }
  logger_guard(const logger_guard&) = delete;
  logger_guard& operator=(const logger_guard&) = delete;

 private:
  std::shared_ptr<spdlog::logger> saved_;
};

// in_child: runs fn in a forked child with stderr captured; returns (wait status, stderr text).
template <class F>
std::pair<int, std::string> in_child(F fn) {
  int pipe_fds[2];
  REQUIRE(::pipe(pipe_fds) == 0);
  pid_t pid = ::fork();
  REQUIRE(pid >= 0);
  if (pid == 0) {
    ::dup2(pipe_fds[1], STDERR_FILENO);
    ::close(pipe_fds[0]);
    fn();
    ::_exit(0);
  }
  ::close(pipe_fds[1]);
  std::string err;
  char buf[512];
  for (ssize_t n; (n = ::read(pipe_fds[0], buf, sizeof buf)) > 0;) err.append(buf, static_cast<std::size_t>(n));
  ::close(pipe_fds[0]);
  int status = 0;
  ::waitpid(pid, &status, 0);
  return {status, err};
}


}  // namespace fiberpool_test
