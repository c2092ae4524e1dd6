// autoscale: an autoscaled_pool drains a simulated crawl queue while a competing CPU hog appears
// and disappears; it prints the desired and current concurrency over time, so the controller can
// be seen backing off while the machine is busy and scaling up again once it is free.
#include <algorithm>
#include <cstdint>
#include <charconv>
#include <chrono>
#include <cstdio>
#include <memory>
#include <string>
#include <string_view>
#include <thread>

#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/spdlog.h>

#include <fiberpool/fiberpool.hpp>

#include "cpu_hog.hpp"
#include "frontier.hpp"

using namespace std::chrono_literals;
using steady = fiberpool::clock;
using autoscale_example::cpu_hog;
using autoscale_example::frontier;

namespace {

struct options {
  double seconds = 12;      // links are followed this long; the queue then drains
  std::size_t threads = 1;  // scheduler threads of the pool
};

int usage(std::FILE* to, const char* program, int code) {
  std::fprintf(to,
               "usage: %s [--seconds S] [--threads N] [--help]\n"
               "\n"
               "Crawls a simulated site with a fiberpool::autoscaled_pool: each task fetches one page\n"
               "(a network wait and a little parsing) and queues the links it finds for S seconds.\n"
               "From 30%% to 60%% of that time, threads spinning on every CPU compete with it. The\n"
               "default system_status sees CPU use, memory and scheduler lag; the pool scales its\n"
               "desired concurrency down while the machine is overloaded and up again once it is not.\n"
               "\n"
               "  --seconds S  how long links are followed, 1 to 600 (default 12)\n"
               "  --threads N  scheduler threads of the pool, 1 to 64 (default 1)\n"
               "  --help       print this message and exit\n",
               program);
  return code;
}

template <class T>
bool parse(std::string_view text, T& out, T min, T max) {
  T v{};
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
  if (ec != std::errc{} || end != text.data() + text.size() || !(v >= min) || v > max) return false;
  out = v;
  return true;
}

// A bar as long as n, to make the rise and fall visible at a glance.
std::string bar(std::size_t n) { return std::string(std::min<std::size_t>(n, 64), '#'); }

// What the desired concurrency did around the hog: how high it got before, how low while the hog
// ran (and while the status history still remembered it), how high after.
struct trend {
  std::size_t peak_before = 0;
  std::size_t low_during = SIZE_MAX;
  std::size_t peak_after = 0;
};

}  // namespace

int main(int argc, char** argv) {
  options opt;
  for (int i = 1; i < argc; ++i) {
    const std::string_view arg = argv[i];
    if (arg == "--help") return usage(stdout, argv[0], 0);
    const bool has_value = i + 1 < argc;
    if (arg == "--seconds" && has_value && parse(std::string_view(argv[++i]), opt.seconds, 1.0, 600.0)) continue;
    if (arg == "--threads" && has_value && parse(std::string_view(argv[++i]), opt.threads, std::size_t{1}, std::size_t{64}))
      continue;
    std::fprintf(stderr, "error: bad option or value near '%s'\n", argv[i]);
    return usage(stderr, argv[0], 2);
  }

  const auto start = steady::now();
  const auto length = std::chrono::duration_cast<steady::duration>(std::chrono::duration<double>(opt.seconds));
  const auto hog_from = start + length * 3 / 10;
  const auto hog_until = start + length * 6 / 10;
  const auto hog_remembered = hog_until + 2s;  // historical_window, below
  frontier site(50, start + length, 20'000);
  cpu_hog hog(std::max(1u, std::thread::hardware_concurrency()));

  fiberpool::autoscaled_options o;
  o.concurrency.min = 1;
  o.concurrency.max = 64;
  o.concurrency.desired = 4;
  // Crawlee's shape: is_task_ready() is a hint. A task that finds the queue already emptied by
  // another just returns.
  o.run_task = [&] {
    if (auto page = site.take()) site.crawl(*page);
  };
  o.is_task_ready = [&] { return site.queued() > 0; };
  o.is_finished = [&] { return site.queued() == 0; };  // asked only when no task runs
  // Crawlee's thresholds, on a faster clock than its defaults so that a short run shows the
  // controller at work: decide every half second from the last two seconds, in bigger steps.
  o.autoscale_interval = 500ms;
  o.scale_up_step_ratio = 0.25;
  o.scale_down_step_ratio = 0.25;
  o.status_options.sample_interval = 200ms;
  o.status_options.current_window = 1s;
  o.status_options.historical_window = 2s;
  o.logging_interval = length / 2;  // the library's own status line, twice during the crawl

  fiberpool::pool_options p;
  p.name = "crawler";
  p.threads = opt.threads;
  p.logger = std::make_shared<spdlog::logger>("autoscale", std::make_shared<spdlog::sinks::stdout_sink_mt>());
  p.logger->set_pattern("[%l] %v");
  // Debug shows each change of the desired concurrency with the reason (which resource was
  // overloaded in what share of the samples), between the lines of the table below.
  p.logger->set_level(spdlog::level::debug);
  fiberpool::autoscaled_pool pool(o, p);

  std::printf("crawling for %.0f s; a CPU hog on %u threads from %.1f s to %.1f s. The pool backs off while the\n"
              "machine is overloaded, by the hog or by anything else running on it; [debug] lines say why.\n",
              opt.seconds, std::max(1u, std::thread::hardware_concurrency()), opt.seconds * 0.3, opt.seconds * 0.6);
  std::printf("  time  hog  desired  current  crawled  queued\n");
  std::fflush(stdout);

  // The printer, which also switches the hog on and off on time.
  fiberpool::event done;
  trend seen;
  std::thread printer([&] {
    const auto step = std::max<steady::duration>(length / 40, 250ms);
    for (auto next = start + step; !done.wait_until(next); next += step) {
      const auto now = steady::now();
      if (now >= hog_from && now < hog_until && !hog.is_on()) hog.on();
      if (now >= hog_until && hog.is_on()) hog.off();
      const auto desired = pool.desired_concurrency();
      if (now < hog_from)
        seen.peak_before = std::max(seen.peak_before, desired);
      else if (now < hog_remembered)
        seen.low_during = std::min(seen.low_during, desired);
      else
        seen.peak_after = std::max(seen.peak_after, desired);
      std::printf("%5.1fs  %s  %7zu  %7zu  %7zu  %6zu  %s\n", std::chrono::duration<double>(now - start).count(),
                  hog.is_on() ? "ON " : " . ", desired, pool.current_concurrency(), site.crawled(), site.queued(),
                  bar(desired).c_str());
      std::fflush(stdout);
    }
  });

  int code = 0;
  try {
    pool.run();
  } catch (const std::exception& e) {
    std::fprintf(stderr, "run() failed: %s\n", e.what());
    code = 1;
  }
  done.set();
  printer.join();
  hog.off();

  std::printf("crawled %zu of %zu pages in %.1f s\n", site.crawled(), site.discovered(),
              std::chrono::duration<double>(steady::now() - start).count());
  if (seen.low_during != SIZE_MAX)
    std::printf("desired concurrency: up to %zu before the hog, down to %zu while it ran (or the status still "
                "remembered it), up to %zu after\n",
                seen.peak_before, seen.low_during, seen.peak_after);
  if (site.crawled() != site.discovered()) {
    std::fprintf(stderr, "error: %zu pages were discovered but never crawled\n", site.discovered() - site.crawled());
    code = 1;
  }
  return code;
}
