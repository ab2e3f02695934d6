// sdpp::version(): the version this library was built as (CMake's project(VERSION), through the
// generated sdpp/version.h); the build facts `sdpp version` prints next to it.
#include "backend/backend.h"
#include "core/threads.h"

#include <sdpp/sdpp.hpp>

namespace sdpp {

const char* version() { return SDPP_VERSION_STRING; }

int default_threads() { return num_threads(); }

std::string backend_description() { return cpu_backend().describe(); }

}  // namespace sdpp
