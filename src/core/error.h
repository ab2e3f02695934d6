// SDPP_CHECK and error(): every failure the user can cause becomes an sdpp::Error (declared in the
// public include/sdpp/error.hpp, so embedders catch the same type) with a one-line message; the CLI
// prints it and exits 2. Internal invariants use the same macro.
#pragma once
#include <sdpp/error.hpp>

#include <sstream>
#include <string>

namespace sdpp {

namespace detail {
template <class... Args>
std::string concat(const Args&... args) {
    std::ostringstream os;
    (os << ... << args);
    return os.str();
}
}  // namespace detail

// Builds a message from stream-able pieces: throw error("bad shape ", shape).
template <class... Args>
Error error(const Args&... args) {
    return Error(detail::concat(args...));
}

}  // namespace sdpp

// SDPP_CHECK(cond, "message pieces", ...) throws sdpp::Error when cond is false.
#define SDPP_CHECK(cond, ...)                                   \
    do {                                                        \
        if (!(cond)) throw ::sdpp::error(__VA_ARGS__);          \
    } while (0)
