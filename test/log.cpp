// The library's injectable logger: the default, set_logger(), silence, and a pool's own logger.
#include <memory>
#include <set>
#include <stdexcept>
#include <string>

#include "support.hpp"

using namespace fiberpool_test;

namespace {

// The names in spdlog's registry (the default logger is registered under "").
std::set<std::string> registered_names() {
  std::set<std::string> names;
  spdlog::apply_all([&](const std::shared_ptr<spdlog::logger>& l) { names.insert(l->name()); });
  return names;
}

// Runs one job whose on_ended throws `message`, on a pool with `opts`, and destroys the pool so
// that everything it logs has been logged.
void run_job_with_throwing_on_ended(fiberpool::pool_options opts, const std::string& message) {
  fiberpool::task_pool pool(std::move(opts));
  pool.start();
  fiberpool::job_options jo;
  jo.on_ended = [message](fiberpool::job_id, fiberpool::job_state, std::exception_ptr) {
    throw std::runtime_error(message);
  };
  auto j = pool.apply(std::move(jo), [] { return 1; });
  CHECK(j.get() == 1);
  pool.stop();
}

}  // namespace

TEST_CASE("the default logger exists, is named fiberpool and is not registered with spdlog") {
  logger_guard guard;
  auto l = fiberpool::logger();
  REQUIRE(l != nullptr);
  CHECK(l->name() == "fiberpool");
  CHECK(spdlog::get("fiberpool") == nullptr);
  CHECK(registered_names().count("fiberpool") == 0);
}

TEST_CASE("using the library neither replaces spdlog's default logger nor registers names") {
  logger_guard guard;
  auto default_before = spdlog::default_logger();
  auto names_before = registered_names();

  with_threads([](std::size_t threads) {
    fiberpool::runtime_options ro;
    ro.threads = threads;
    fiberpool::runtime rt(ro);
    fiberpool::task_pool pool(rt, pool_opts(threads));
    pool.start();
    CHECK(pool.apply([] { return 2; }).get() == 2);
    pool.timer().call_after(std::chrono::hours(1), [] {});
    pool.stop();
  });
  fiberpool::logger()->debug("a line through the library's default logger");
  fiberpool::set_logger(nullptr);
  fiberpool::set_logger(std::make_shared<spdlog::logger>("mine"));

  CHECK(spdlog::default_logger() == default_before);
  CHECK(spdlog::get("fiberpool") == nullptr);
  CHECK(spdlog::get("mine") == nullptr);
  CHECK(registered_names() == names_before);
}

TEST_CASE("set_logger makes logger() return the given logger and pools without one use it") {
  logger_guard guard;
  log_capture cap;
  fiberpool::set_logger(cap.logger());
  CHECK(fiberpool::logger() == cap.logger());

  with_threads([](std::size_t threads) {
    log_capture mine;
    fiberpool::set_logger(mine.logger());
    run_job_with_throwing_on_ended(pool_opts(threads), "on-ended-to-library-default");
    CHECK(mine.text().find("on-ended-to-library-default") != std::string::npos);
  });
}

TEST_CASE("a pool keeps the library default that was set when it was made") {
  logger_guard guard;
  with_threads([](std::size_t threads) {
    log_capture at_creation;
    log_capture later;
    fiberpool::set_logger(at_creation.logger());
    {
      fiberpool::task_pool pool(pool_opts(threads));
      fiberpool::set_logger(later.logger());
      pool.start();
      fiberpool::job_options jo;
      jo.on_ended = [](fiberpool::job_id, fiberpool::job_state, std::exception_ptr) {
        throw std::runtime_error("on-ended-after-set-logger");
      };
      pool.apply(std::move(jo), [] {}).get();
      pool.stop();
    }
    CHECK(at_creation.text().find("on-ended-after-set-logger") != std::string::npos);
    CHECK(later.text().find("on-ended-after-set-logger") == std::string::npos);
  });
}

TEST_CASE("set_logger(nullptr) installs a non-null logger with no sinks") {
  logger_guard guard;
  log_capture previous;
  fiberpool::set_logger(previous.logger());
  fiberpool::set_logger(nullptr);

  auto l = fiberpool::logger();
  REQUIRE(l != nullptr);
  CHECK(l != previous.logger());
  CHECK(l->sinks().empty());
  CHECK_NOTHROW(l->error("goes nowhere"));

  // Errors of pools using the silent default reach no earlier logger either.
  with_threads([](std::size_t threads) {
    run_job_with_throwing_on_ended(pool_opts(threads), "on-ended-while-silenced");
    CHECK(fiberpool::logger()->sinks().empty());
  });
  CHECK(previous.text().empty());
}

TEST_CASE("a pool with its own logger logs there and not to the library default") {
  logger_guard guard;
  with_threads([](std::size_t threads) {
    log_capture library_default;
    log_capture own;
    fiberpool::set_logger(library_default.logger());
    auto opts = pool_opts(threads);
    opts.logger = own.logger();
    run_job_with_throwing_on_ended(std::move(opts), "on-ended-to-pool-logger");
    CHECK(own.text().find("on-ended-to-pool-logger") != std::string::npos);
    CHECK(library_default.text().find("on-ended-to-pool-logger") == std::string::npos);
  });
}
