// Helpers for reproducing float32 results of reference code bit for bit: the reference (torch built
// by GCC with -mfma) fuses some multiply-adds and rounds others, so we write each fused one as
// std::fma and mark each separately rounded product with rounded(), which stops the compiler from
// contracting it into a neighbouring add (GCC contracts by default, -ffp-contract=fast).
#pragma once

namespace sdpp {

// Returns v, rounded to float at this point (an optimisation barrier the compiler cannot fuse across).
inline float rounded(float v) {
#if defined(__GNUC__) && (defined(__x86_64__) || defined(__i386__))
    __asm__("" : "+x"(v));
#else
    volatile float t = v;
    v = t;
#endif
    return v;
}

}  // namespace sdpp
