// humanize: durations as an operator reads them in a dump or a table.
#pragma once

#include <string>

#include <fiberpool/types.hpp>

namespace fiberpool::observe {

// humanize: "0s", "850ns", "12us", "3.4ms", "1.20s", "3m05s", "2h07m"; negative spans as "-" + that.
std::string humanize(clock::duration d);

}  // namespace fiberpool::observe
