// SDPP_CHECK: every failure the user can cause becomes an sdpp::Error (declared, with the error()
// message builder, in the public include/sdpp/error.hpp, so embedders catch the same type) with a
// one-line message; the CLI prints it and exits 2. Internal invariants use SDPP_ASSERT (core/assert.h).
#pragma once
#include <sdpp/error.hpp>  // sdpp::Error and error(pieces...), which builds the message

// SDPP_CHECK(cond, "message pieces", ...) throws sdpp::Error when cond is false.
#define SDPP_CHECK(cond, ...)                                   \
    do {                                                        \
        if (!(cond)) throw ::sdpp::error(__VA_ARGS__);          \
    } while (0)
