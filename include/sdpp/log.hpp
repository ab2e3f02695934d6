// sdpp public API: where the library's log lines go and how many of them.
// Self-contained: includes nothing from src/.
#pragma once
#include <sdpp/export.h>

#include <functional>
#include <string>

namespace sdpp {

// Trace: per-primitive detail (which oneDNN kernel each shape got), too much for debug output.
enum class LogLevel { Quiet = 0, Error = 1, Warn = 2, Info = 3, Debug = 4, Trace = 5 };

// Receives each line the verbosity lets through, without a trailing newline or "error: " tag.
using LogCallback = std::function<void(LogLevel level, const std::string& message)>;

// Sends the library's log lines to `callback` instead of stderr; an empty one restores stderr.
// Process-wide (like the verbosity). Called on the thread that logs, one call at a time; it must
// not call back into the library's logging.
SDPP_API void set_log_callback(LogCallback callback);

// Library log output: 0 = errors only, 1 = normal (default), 2 = debug detail, 3 = also trace.
SDPP_API void set_verbosity(int level);

}  // namespace sdpp
