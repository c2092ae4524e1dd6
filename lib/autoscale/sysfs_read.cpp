// sysfs_read: small readers for the one-value and key-value files of /proc and /sys/fs/cgroup.
#include "autoscale/sysfs_read.hpp"

#include <charconv>
#include <fstream>
#include <iterator>
#include <sstream>

namespace fiberpool::detail {

namespace {

std::optional<std::uint64_t> parse_number(std::string_view token) {
  std::uint64_t v = 0;
  auto [end, ec] = std::from_chars(token.data(), token.data() + token.size(), v);
  if (ec != std::errc{} || end != token.data() + token.size()) return std::nullopt;
  return v;
}

}  // namespace

std::optional<std::string> read_text(const std::filesystem::path& p) {
  std::ifstream in(p);
  if (!in) return std::nullopt;
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

std::optional<std::uint64_t> read_number(const std::filesystem::path& p) {
  auto text = read_text(p);
  if (!text) return std::nullopt;
  std::istringstream in(*text);
  std::string token;
  if (!(in >> token)) return std::nullopt;
  return parse_number(token);
}

std::optional<std::uint64_t> read_key(const std::filesystem::path& p, std::string_view key) {
  auto text = read_text(p);
  if (!text) return std::nullopt;
  std::istringstream in(*text);
  std::string line;
  while (std::getline(in, line)) {
    std::istringstream fields(line);
    std::string name, value;
    if (fields >> name >> value && name == key) return parse_number(value);
  }
  return std::nullopt;
}

}  // namespace fiberpool::detail
