// Parsing the demo's options by hand: no library, every error explained on stderr.
#include "command_line.hpp"

#include <charconv>
#include <cstdio>
#include <string>
#include <string_view>
#include <system_error>

namespace demo {
namespace {

// Each connection costs two file descriptors (client and server side) and two fibers.
constexpr std::size_t min_connections = 1;
constexpr std::size_t max_connections = 50'000;
constexpr std::size_t max_threads = 256;
constexpr double max_seconds = 600;

void print_usage(std::FILE* to, const char* program) {
  std::fprintf(to,
               "usage: %s [--connections N] [--seconds S] [--threads N] [--help]\n"
               "\n"
               "Runs a loopback TCP echo server (io::serve) whose connections are jobs of a\n"
               "fiberpool::task_pool with fewer slots than clients, drives it with N client jobs of a\n"
               "second pool that open connection after connection, grows and shrinks the server pool\n"
               "while they run (the connections beyond its limit wait in the listen backlog), kills one\n"
               "deliberately stuck connection by its job id, and prints a timeline of connections\n"
               "served and waiting, throughput, latency and how every job ended.\n"
               "\n"
               "  --connections N  client connections, %zu..%zu (default 2000)\n"
               "  --seconds S      how long the clients send, above 0 and up to %g (default 5)\n"
               "  --threads N      scheduler threads of each pool, 0..%zu; 0 = one per core (default 2)\n"
               "  --help           print this message and exit\n",
               program, min_connections, max_connections, max_seconds, max_threads);
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

bool set_count(std::size_t& out, std::string_view name, std::string_view value, std::size_t min,
               std::size_t max) {
  auto n = parse_number<std::size_t>(value);
  if (!n || *n < min || *n > max) {
    std::fprintf(stderr, "error: %.*s wants a whole number from %zu to %zu, not '%.*s'\n", length(name),
                 name.data(), min, max, length(value), value.data());
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
  if (name == "--connections") return set_count(opts.connections, name, value, min_connections, max_connections);
  if (name == "--threads") return set_count(opts.threads, name, value, 0, max_threads);
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
    } else if (arg == "--connections" || arg == "--threads" || arg == "--seconds") {
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
