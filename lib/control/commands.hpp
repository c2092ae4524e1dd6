// commands: the control protocol's requests, one JSON object in, one JSON object out.
#pragma once

#include <string>
#include <string_view>

namespace fiberpool::control {

// execute: parses one request line and carries it out. Never throws: bad input (not JSON, too
// deep, wrong types, unknown command or pool, out-of-range numbers) gets {"ok": false, "error"}.
// `read_only` refuses the commands that change anything. The reply has no line feed.
std::string execute(std::string_view line, bool read_only);

}  // namespace fiberpool::control
