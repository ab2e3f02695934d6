#include "core/log.h"

#include <atomic>
#include <cstdio>

namespace sdpp {
namespace {
std::atomic<int> g_level{int(LogLevel::Warn)};
}
void set_log_level(LogLevel l) { g_level = int(l); }
LogLevel log_level() { return LogLevel(g_level.load()); }
void log_line(LogLevel l, const std::string& msg) {
    const char* tag = l == LogLevel::Error ? "error: " : l == LogLevel::Warn ? "warning: " : "";
    std::fprintf(stderr, "%s%s\n", tag, msg.c_str());
}
}  // namespace sdpp
