// Levelled logging to stderr, or to the callback an embedder set (include/sdpp/log.hpp declares
// LogLevel and set_log_callback). The CLI sets the level from --quiet / --verbose.
#pragma once
#include <sdpp/log.hpp>

#include <sstream>
#include <string>

namespace sdpp {

void set_log_level(LogLevel l);
LogLevel log_level();
void log_line(LogLevel l, const std::string& msg);

template <class... Args>
void log(LogLevel l, const Args&... args) {
    if (int(l) > int(log_level())) return;
    std::ostringstream os;
    (os << ... << args);
    log_line(l, os.str());
}
template <class... Args> void log_info(const Args&... a) { log(LogLevel::Info, a...); }
template <class... Args> void log_warn(const Args&... a) { log(LogLevel::Warn, a...); }
template <class... Args> void log_debug(const Args&... a) { log(LogLevel::Debug, a...); }
template <class... Args> void log_trace(const Args&... a) { log(LogLevel::Trace, a...); }

}  // namespace sdpp
