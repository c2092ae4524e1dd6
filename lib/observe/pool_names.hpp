// pool_names: the names by which prometheus_text() and the control socket show pools.
#pragma once

#include <map>
#include <string>

namespace fiberpool::observe {

// shown_name: `name` the first time it is seen in one walk of the live pools (oldest first), then
// "name#2", "name#3": no two pools of one process share a shown name.
inline std::string shown_name(std::map<std::string, int>& seen, const std::string& name) {
  const int k = ++seen[name];
  return k == 1 ? name : name + "#" + std::to_string(k);
}

}  // namespace fiberpool::observe
