// SDPP_ASSERT(cond, "message pieces", ...) for internal invariants: when it fails, sdpp has a bug,
// the input is not at fault. It throws sdpp::InternalError, which is deliberately not an
// sdpp::Error: the CLI reports it as "internal error: ..." with exit code 1 (bad input is
// SDPP_CHECK's sdpp::Error, exit code 2).
#pragma once
#include "core/error.h"

#include <stdexcept>

namespace sdpp {

struct InternalError : std::logic_error {
    using std::logic_error::logic_error;
};

}  // namespace sdpp

#define SDPP_ASSERT(cond, ...)                                                                          \
    do {                                                                                                \
        if (!(cond))                                                                                    \
            throw ::sdpp::InternalError(::sdpp::detail::concat(__FILE__, ":", __LINE__, ": ", __VA_ARGS__)); \
    } while (0)
