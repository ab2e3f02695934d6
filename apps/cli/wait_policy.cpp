// OpenMP's waiting threads spin on barriers between parallel regions (libgomp's default), which is
// fastest on cores nobody else wants and costly when another process is busy: the spinning threads
// take turns from the one with work (measured, docs/performance.md "Sharing the machine": 1.7x the
// idle time with one busy neighbour, 1.1-1.25x with passive waiting). libgomp reads
// OMP_WAIT_POLICY once, while the process starts (before main; it cannot be set from a
// .preinit_array function either, glibc installs the environment after those run), so the choice
// takes a fresh start of this executable with the variable set: done only when another task is
// runnable at start, where it pays for itself; an idle machine keeps libgomp's default. The user's
// own OMP_WAIT_POLICY or GOMP_SPINCOUNT is left alone.
#include "cli/wait_policy.h"

#include "core/busy_cpus.h"

#include <cstdlib>
#include <unistd.h>

namespace sdpp::cli {

void choose_wait_policy(char** argv) {
    if (std::getenv("OMP_WAIT_POLICY") || std::getenv("GOMP_SPINCOUNT") || std::getenv("SDPP_NO_WAIT_POLICY"))
        return;
    if (other_runnable_tasks_now() < 1) return;
    setenv("OMP_WAIT_POLICY", "passive", 1);
    setenv("SDPP_WAIT_POLICY_CHOSEN", "passive", 1);  // for -v
    execv("/proc/self/exe", argv);
    // Not reached unless exec failed: run on with the default policy (the variable set now is too
    // late for libgomp and harmless).
}

}  // namespace sdpp::cli
