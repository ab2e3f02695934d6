// sdpp::version(): the version this library was built as (CMake's project(VERSION), through the
// generated sdpp/version.h).
#include <sdpp/sdpp.hpp>

namespace sdpp {

const char* version() { return SDPP_VERSION_STRING; }

}  // namespace sdpp
