// Parsing the demo's options by hand: no library, every error explained on stderr.
#include "command_line.hpp"

#include <charconv>
#include <cstdio>
#include <string>
#include <string_view>
#include <system_error>

namespace demo {
namespace {

constexpr std::size_t max_jobs = 1'000'000;
constexpr std::size_t max_threads = 256;
constexpr double max_seconds = 600;

void print_usage(std::FILE* to, const char* program) {
  std::fprintf(to,
               "usage: %s [--jobs N] [--threads N] [--seconds S] [--help]\n"
               "\n"
               "Runs N jobs that simulate I/O on a fiberpool::task_pool, resizes the pool while\n"
               "they run, kills one deliberately stuck job, and prints how every job ended.\n"
               "\n"
               "  --jobs N      simulated I/O jobs, 0..%zu (default 5000)\n"
               "  --threads N   scheduler threads, 0..%zu; 0 = one per core (default 2)\n"
               "  --seconds S   rough target duration, above 0 and up to %g (default 5)\n"
               "  --help        print this message and exit\n",
               program, max_jobs, max_threads, max_seconds);
}

// from_chars, not stoul/stod: no exceptions, no locale, and "12abc" or "-3" are rejected whole.
template <class T>
std::optional<T> parse_number(std::string_view text) {
  T value{};
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc{} || end != text.data() + text.size()) return std::nullopt;
  return value;
}

// %.*s wants an int length: string_views are not null-terminated.
int length(std::string_view s) { return static_cast<int>(s.size()); }

bool set_count(std::size_t& out, std::string_view name, std::string_view value, std::size_t max) {
  auto n = parse_number<std::size_t>(value);
  if (!n || *n > max) {
    std::fprintf(stderr, "error: %.*s wants a whole number from 0 to %zu, not '%.*s'\n", length(name), name.data(),
                 max, length(value), value.data());
    return false;
  }
  out = *n;
  return true;
}

bool set_seconds(double& out, std::string_view value) {
  auto s = parse_number<double>(value);
  if (!s || !(*s > 0) || *s > max_seconds) {  // !(x > 0) also rejects NaN
    std::fprintf(stderr, "error: --seconds wants a number above 0 and up to %g, not '%.*s'\n", max_seconds,
                 length(value), value.data());
    return false;
  }
  out = *s;
  return true;
}

// apply_option: one --name value pair; false, with a message, if it is unknown or its value is bad.
bool apply_option(demo_options& opts, std::string_view name, std::string_view value) {
  if (name == "--jobs") return set_count(opts.jobs, name, value, max_jobs);
  if (name == "--threads") return set_count(opts.threads, name, value, max_threads);
  if (name == "--seconds") return set_seconds(opts.seconds, value);
  std::fprintf(stderr, "error: unknown option '%.*s'\n", length(name), name.data());
  return false;
}

}  // namespace

parsed_command_line parse_command_line(int argc, char** argv) {
  parsed_command_line out;
  const char* program = argc > 0 ? argv[0] : "fiberpool-demo";
  auto fail = [&] {
    print_usage(stderr, program);
    out.exit_code = 2;
    return out;
  };
  for (int i = 1; i < argc; ++i) {
    std::string_view arg = argv[i];
    if (arg == "--help" || arg == "-h") {
      print_usage(stdout, program);
      out.exit_code = 0;
      return out;
    }
    std::string_view name = arg, value;
    if (auto eq = arg.find('='); arg.starts_with("--") && eq != std::string_view::npos) {
      name = arg.substr(0, eq);
      value = arg.substr(eq + 1);
    } else if (arg == "--jobs" || arg == "--threads" || arg == "--seconds") {
      if (i + 1 == argc) {
        std::fprintf(stderr, "error: %s needs a value\n", argv[i]);
        return fail();
      }
      value = argv[++i];
    }
    if (!apply_option(out.options, name, value)) return fail();
  }
  return out;
}

}  // namespace demo
