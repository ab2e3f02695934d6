// How many other tasks are runnable right now, from /proc/loadavg's "running/total" field (which
// counts the reader itself). Written to run before the C++ runtime is initialised (the CLI calls it
// from .preinit_array, apps/cli/wait_policy.cpp): no allocation, no iostreams.
#pragma once
#include <string_view>

namespace sdpp {

// Other runnable tasks in one /proc/loadavg line ("0.52 0.61 0.70 3/120 4242" -> 2); -1 when the
// line does not parse.
int other_runnable_tasks(std::string_view loadavg_line);

// The least of `samples` readings of /proc/loadavg, `gap_us` apart (a busy neighbour is runnable
// in every one, a short-lived task rarely); -1 when it cannot be read.
int other_runnable_tasks_now(int samples = 3, int gap_us = 1000);

}  // namespace sdpp
