// `sdpp version`: build facts (also a smoke test that the command registry links).
#include "cli/command.h"

#include <sdpp/sdpp.hpp>

#include <cstdio>

namespace sdpp::cli {
namespace {
CommandRun setup(CLI::App&) {
    return [] {
        std::printf("sdpp " SDPP_VERSION_STRING "\nthreads: %d\nbackend: %s\n", default_threads(), backend_description().c_str());
        return kExitOk;
    };
}
const bool registered = register_command({"version", "Print version and build facts", setup});
}  // namespace
}  // namespace sdpp::cli
