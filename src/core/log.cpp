#include "core/log.h"

#include <atomic>
#include <cstdio>
#include <mutex>
#include <utility>

namespace sdpp {
namespace {
std::atomic<int> g_level{int(LogLevel::Warn)};
// The embedder's sink. The mutex also serialises calls into it: OpenMP workers may log at once.
std::mutex g_sink_mutex;
LogCallback g_sink;
}  // namespace
void set_log_level(LogLevel l) { g_level = int(l); }
LogLevel log_level() { return LogLevel(g_level.load()); }
void set_log_callback(LogCallback callback) {
    std::lock_guard lock(g_sink_mutex);
    g_sink = std::move(callback);
}
void log_line(LogLevel l, const std::string& msg) {
    {
        std::lock_guard lock(g_sink_mutex);
        if (g_sink) {
            g_sink(l, msg);
            return;
        }
    }
    const char* tag = l == LogLevel::Error ? "error: " : l == LogLevel::Warn ? "warning: " : "";
    std::fprintf(stderr, "%s%s\n", tag, msg.c_str());
}
void set_verbosity(int level) {
    set_log_level(level <= 0   ? LogLevel::Error
                  : level == 1 ? LogLevel::Info
                  : level == 2 ? LogLevel::Debug
                               : LogLevel::Trace);
}
}  // namespace sdpp
