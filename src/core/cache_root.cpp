// Cache root from the environment; see cache_root.h.
#include "core/cache_root.h"

#include <cstdlib>

namespace sdpp {

std::string cache_root() {
    if (const char* x = std::getenv("XDG_CACHE_HOME"); x && *x == '/') return std::string(x) + "/sdpp";
    if (const char* h = std::getenv("HOME"); h && *h) return std::string(h) + "/.cache/sdpp";
    return "";
}

}  // namespace sdpp
