// The demo's command line: its options, their defaults, and a hand-written parser.
#pragma once

#include <cstddef>
#include <optional>

namespace demo {

struct demo_options {
  std::size_t connections = 2000;  // load-generator clients, each one connection doing echo round trips
  std::size_t threads = 2;         // scheduler threads of each pool (server, load); 0 = one per core
  double seconds = 5.0;            // how long the clients send; the whole run takes a little longer
};

// What parse_command_line decided: either options to run with, or an exit code to return at once
// (0 after --help, 2 after a bad option; the message is already printed).
struct parsed_command_line {
  demo_options options;
  std::optional<int> exit_code;
};

// parse_command_line: reads --connections N, --threads N, --seconds S (also as --name=value) and
// --help.
parsed_command_line parse_command_line(int argc, char** argv);

}  // namespace demo
