// sysfs_read: small readers for the one-value and key-value files of /proc and /sys/fs/cgroup.
#pragma once

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>

namespace fiberpool::detail {

// read_text: the whole file, or nullopt when it cannot be opened.
std::optional<std::string> read_text(const std::filesystem::path& p);

// read_number: the file's first token as a number; nullopt when the file cannot be read or the
// token is not a number (cgroup files write "max" or "-1" for "no limit").
std::optional<std::uint64_t> read_number(const std::filesystem::path& p);

// read_key: the number after `key` in a file of "key value" lines (cpu.stat, memory.stat) or
// "key: value unit" lines (/proc/meminfo, with key "MemTotal:"); nullopt when absent.
std::optional<std::uint64_t> read_key(const std::filesystem::path& p, std::string_view key);

}  // namespace fiberpool::detail
