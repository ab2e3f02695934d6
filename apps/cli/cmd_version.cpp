// `sdpp version`: build facts (also a smoke test that the command registry links).
#include "cli/command.h"
#include "core/threads.h"

#include <cstdio>

namespace sdpp::cli {
namespace {
CommandRun setup(CLI::App&) {
    return [] {
        std::printf("sdpp 0.1.0\nthreads: %d\n", num_threads());
        return kExitOk;
    };
}
const bool registered = register_command({"version", "Print version and build facts", setup});
}  // namespace
}  // namespace sdpp::cli
