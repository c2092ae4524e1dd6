// fiberpool-ctl: the command-line client of a fiberpool control socket (<fiberpool/control.hpp>).
// It links Boost.JSON and nothing of the runtime: one request line out, one reply line in.
#include <algorithm>
#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <iostream>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <boost/json.hpp>
#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "observe/humanize.hpp"

namespace json = boost::json;

namespace {

constexpr int exit_ok = 0, exit_failed = 1, exit_usage = 2;

const char* const usage_text =
    "usage: fiberpool-ctl [-s PATH] [--json] [--timeout SECONDS] COMMAND [ARGS]\n"
    "  -s PATH          the control socket (default: $FIBERPOOL_CONTROL_SOCKET)\n"
    "  --json           print the server's raw JSON reply\n"
    "  --timeout S      give up after S seconds (default 10)\n"
    "commands:\n"
    "  ping                          is the server there? (its pid)\n"
    "  stats [POOL]                  counters and latency percentiles of every pool, or one\n"
    "  inspect active|queued [POOL]  the running (or queued) jobs, where each waits and for how long\n"
    "  dump                          every live job, Go-style (text)\n"
    "  metrics                       the Prometheus exposition (text)\n"
    "  grow POOL N | shrink POOL N   change a pool's limit by N\n"
    "  resize POOL N                 set a pool's limit to N\n"
    "  terminate ID [SIGNAL]         kill job ID (SIGNAL: a number or a name, default TERM)\n"
    "  cancel-group POOL GROUP       cancel a task group's queued and running jobs\n"
    "exit status: 0 done, 1 refused or failed (the reason on stderr), 2 usage error\n";

[[noreturn]] void usage(const std::string& why) {
  std::cerr << "fiberpool-ctl: " << why << "\n" << usage_text;
  std::exit(exit_usage);
}

[[noreturn]] void fail(const std::string& why) {
  std::cerr << "fiberpool-ctl: " << why << "\n";
  std::exit(exit_failed);
}

std::uint64_t whole_number(const std::string& s, const char* what) {
  if (s.empty() || s.find_first_not_of("0123456789") != std::string::npos || s.size() > 19)
    usage(std::string(what) + " must be a whole number, not \"" + s + "\"");
  return std::stoull(s);
}

int signal_number(std::string s) {
  if (!s.empty() && s.find_first_not_of("0123456789") == std::string::npos) {
    auto n = whole_number(s, "SIGNAL");
    if (n < 1 || n > 64) usage("SIGNAL must be from 1 to 64");
    return static_cast<int>(n);
  }
  if (s.rfind("SIG", 0) == 0) s = s.substr(3);
  static const std::pair<const char*, int> names[] = {{"TERM", SIGTERM}, {"KILL", SIGKILL}, {"INT", SIGINT},
                                                      {"HUP", SIGHUP},   {"QUIT", SIGQUIT}, {"USR1", SIGUSR1},
                                                      {"USR2", SIGUSR2}, {"ABRT", SIGABRT}};
  for (auto& [name, n] : names)
    if (s == name) return n;
  usage("unknown SIGNAL \"" + s + "\" (a number, or TERM, KILL, INT, HUP, QUIT, USR1, USR2, ABRT)");
}

// The request for the command line's COMMAND [ARGS].
json::object request(const std::vector<std::string>& a) {
  if (a.empty()) usage("no command");
  const std::string& cmd = a[0];
  auto args = [&](std::size_t least, std::size_t most) {
    if (a.size() - 1 < least || a.size() - 1 > most) usage("wrong number of arguments for " + cmd);
  };
  if (cmd == "ping" || cmd == "dump" || cmd == "metrics") {
    args(0, 0);
    return {{"cmd", cmd}};
  }
  if (cmd == "stats") {
    args(0, 1);
    json::object r{{"cmd", cmd}};
    if (a.size() == 2) r["pool"] = a[1];
    return r;
  }
  if (cmd == "inspect") {
    args(1, 2);
    if (a[1] != "active" && a[1] != "queued") usage("inspect what? active or queued");
    json::object r{{"cmd", cmd}, {"what", a[1]}};
    if (a.size() == 3) r["pool"] = a[2];
    return r;
  }
  if (cmd == "grow" || cmd == "shrink" || cmd == "resize") {
    args(2, 2);
    return {{"cmd", cmd}, {"pool", a[1]}, {"n", whole_number(a[2], "N")}};
  }
  if (cmd == "terminate") {
    args(1, 2);
    json::object r{{"cmd", cmd}, {"id", whole_number(a[1], "ID")}};
    if (a.size() == 3) r["signal"] = signal_number(a[2]);
    return r;
  }
  if (cmd == "cancel-group") {
    args(2, 2);
    return {{"cmd", cmd}, {"pool", a[1]}, {"group", a[2]}};
  }
  usage("unknown command \"" + cmd + "\"");
}

// exchange: one request line out, one reply line back.
std::string exchange(const std::string& path, const std::string& line, std::chrono::milliseconds timeout) {
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  if (path.empty()) usage("no socket: give -s PATH or set FIBERPOOL_CONTROL_SOCKET");
  if (path.size() >= sizeof addr.sun_path) usage("socket path too long");
  std::memcpy(addr.sun_path, path.data(), path.size());
  int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) fail(std::string("socket: ") + std::strerror(errno));
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0)
    fail("cannot connect to " + path + ": " + std::strerror(errno) + " (is the server running, and is this its socket?)");
  const std::string out = line + "\n";
  for (std::size_t sent = 0; sent < out.size();) {
    ssize_t n = ::send(fd, out.data() + sent, out.size() - sent, MSG_NOSIGNAL);
    if (n < 0) fail(std::string("sending: ") + std::strerror(errno));
    sent += static_cast<std::size_t>(n);
  }
  std::string reply;
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  char buf[65536];
  while (reply.find('\n') == std::string::npos) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
    pollfd p{fd, POLLIN, 0};
    if (left.count() <= 0 || ::poll(&p, 1, static_cast<int>(left.count())) == 0) fail("no reply within the timeout");
    ssize_t n = ::recv(fd, buf, sizeof buf, 0);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) fail(std::string("reading the reply: ") + std::strerror(errno));
    if (n == 0) fail("the server closed the connection without a reply (is this uid allowed on the socket?)");
    reply.append(buf, static_cast<std::size_t>(n));
  }
  ::close(fd);
  return reply.substr(0, reply.find('\n'));
}

// --- human-readable output ---

std::string text(const json::value& v) {
  if (v.is_string()) return std::string(v.get_string());
  if (v.is_null()) return "-";
  if (v.is_double()) return fiberpool::observe::humanize(std::chrono::duration_cast<fiberpool::clock::duration>(
      std::chrono::duration<double>(v.get_double())));
  return json::serialize(v);
}

void print_table(const std::vector<std::string>& head, const std::vector<std::vector<std::string>>& rows) {
  std::vector<std::size_t> width(head.size());
  for (std::size_t c = 0; c < head.size(); ++c) {
    width[c] = head[c].size();
    for (auto& r : rows) width[c] = std::max(width[c], r[c].size());
  }
  auto line = [&](const std::vector<std::string>& cells) {
    std::string s;
    for (std::size_t c = 0; c < cells.size(); ++c) {
      std::string cell = cells[c];
      if (c + 1 < cells.size()) cell.resize(width[c] + 2, ' ');
      s += cell;
    }
    while (!s.empty() && s.back() == ' ') s.pop_back();
    std::cout << s << "\n";
  };
  line(head);
  for (auto& r : rows) line(r);
}

// quantile: the upper bound of the bucket holding the q-th observation, as "<= 1.02ms".
std::string quantile(const json::object& h, double q) {
  const auto count = h.at("count").to_number<double>();
  if (count == 0) return "-";
  const auto& le = h.at("le").as_array();
  const auto& counts = h.at("counts").as_array();
  for (std::size_t i = 0; i < counts.size(); ++i)
    if (counts[i].to_number<double>() >= q * count)
      return le[i].is_null() ? "> " + text(le[i - 1]) : "<= " + text(le[i]);
  return "-";
}

std::string number(const json::value& v) { return v.is_null() ? "-" : json::serialize(v); }

void print_human(const std::string& cmd, const json::object& r) {
  if (cmd == "ping") {
    std::cout << "pong from pid " << number(r.at("pid")) << "\n";
  } else if (cmd == "dump") {
    std::cout << r.at("dump").as_string().c_str();
  } else if (cmd == "metrics") {
    std::cout << r.at("metrics").as_string().c_str();
  } else if (cmd == "stats") {
    std::vector<std::vector<std::string>> rows;
    for (const auto& pv : r.at("pools").as_array()) {
      const auto& p = pv.as_object();
      rows.push_back({text(p.at("pool")), text(p.at("state")), number(p.at("limit")), number(p.at("running")),
                      number(p.at("queued")), number(p.at("applied")), number(p.at("succeeded")),
                      number(p.at("failed")), number(p.at("terminated")), number(p.at("cancelled")),
                      number(p.at("rejected")), quantile(p.at("queue_wait_seconds").as_object(), 0.99),
                      quantile(p.at("run_seconds").as_object(), 0.5), quantile(p.at("run_seconds").as_object(), 0.99)});
    }
    print_table({"POOL", "STATE", "LIMIT", "RUNNING", "QUEUED", "APPLIED", "OK", "FAILED", "KILLED", "CANCELLED",
                 "REJECTED", "WAIT p99", "RUN p50", "RUN p99"},
                rows);
  } else if (cmd == "inspect") {
    std::vector<std::vector<std::string>> rows;
    for (const auto& jv : r.at("jobs").as_array()) {
      const auto& j = jv.as_object();
      auto opt = [&](const char* k) { return j.contains(k) ? text(j.at(k)) : std::string("-"); };
      std::string state = text(j.at("state"));
      if (j.contains("stalled_seconds")) state += " STALLED " + text(j.at("stalled_seconds"));
      if (j.at("kill_pending").as_bool()) state += " (kill pending)";
      rows.push_back({text(j.at("pool")), number(j.at("id")), text(j.at("name")).empty() ? "-" : text(j.at("name")),
                      text(j.at("group")).empty() ? "-" : text(j.at("group")), state, number(j.at("thread")),
                      opt("age_seconds"), opt("waiting_on"), opt("waiting_seconds")});
    }
    if (rows.empty()) std::cout << "no jobs\n";
    else print_table({"POOL", "ID", "NAME", "GROUP", "STATE", "THREAD", "AGE", "WAITING ON", "FOR"}, rows);
  } else if (cmd == "grow" || cmd == "shrink" || cmd == "resize") {
    const auto* counts = r.if_contains("counts");
    std::cout << "pool " << text(r.at("pool")) << ": " << (counts ? text(*counts) : std::string("limit")) << " "
              << number(r.at("limit_before")) << " -> " << number(r.at("limit")) << "\n";
  } else if (cmd == "terminate") {
    std::cout << "job " << number(r.at("id")) << ": kill sent (signal " << number(r.at("signal")) << ")\n";
  } else if (cmd == "cancel-group") {
    std::cout << "pool " << text(r.at("pool")) << ": group " << text(r.at("group")) << " cancelled\n";
  }
}

}  // namespace

int main(int argc, char** argv) {
  std::string path;
  if (const char* env = std::getenv("FIBERPOOL_CONTROL_SOCKET")) path = env;
  bool raw = false;
  double timeout_s = 10;
  std::vector<std::string> rest;
  for (int i = 1; i < argc; ++i) {
    std::string_view a = argv[i];
    if (a == "-h" || a == "--help") {
      std::cout << usage_text;
      return exit_ok;
    }
    if ((a == "-s" || a == "--socket") && i + 1 < argc) path = argv[++i];
    else if (a == "--json") raw = true;
    else if (a == "--timeout" && i + 1 < argc) {
      char* end = nullptr;
      timeout_s = std::strtod(argv[++i], &end);
      if (!end || *end || !(timeout_s > 0)) usage("--timeout needs a positive number of seconds");
    } else if (a.size() > 1 && a[0] == '-' && rest.empty()) usage("unknown option " + std::string(a));
    else rest.emplace_back(a);
  }
  const json::object req = request(rest);
  const std::string line = exchange(path, json::serialize(req),
                                    std::chrono::milliseconds(static_cast<long long>(timeout_s * 1000)));
  boost::system::error_code ec;
  json::value reply = json::parse(line, ec);
  if (ec || !reply.is_object() || !reply.as_object().contains("ok"))
    fail("the server's reply is not the protocol's: " + line.substr(0, 200));
  const auto& r = reply.as_object();
  if (raw) std::cout << line << "\n";
  if (!r.at("ok").is_bool() || !r.at("ok").get_bool()) {
    if (!raw) {
      const auto* e = r.if_contains("error");
      std::cerr << "fiberpool-ctl: " << (e && e->is_string() ? std::string(e->get_string()) : std::string("refused"))
                << "\n";
    }
    return exit_failed;
  }
  if (!raw) print_human(rest[0], r);
  return exit_ok;
}
