// `sdpp version`: build facts (also a smoke test that the command registry links).
#include "cli/command.h"
#include "backend/backend.h"
#include "core/threads.h"

#include <sdpp/version.h>

#include <cstdio>

namespace sdpp::cli {
namespace {
CommandRun setup(CLI::App&) {
    return [] {
        std::printf("sdpp " SDPP_VERSION_STRING "\nthreads: %d\nbackend: %s\n", num_threads(), cpu_backend().describe().c_str());
        return kExitOk;
    };
}
const bool registered = register_command({"version", "Print version and build facts", setup});
}  // namespace
}  // namespace sdpp::cli
