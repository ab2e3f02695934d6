// The instruction set one compilation of the kernels in this folder targets. CMake compiles every
// .cpp here twice: with SDPP_KERNEL_ISA_AVX512 (AVX-512 F/BW/DQ/VL, 16-lane vectors) and without it
// (AVX2 + FMA + F16C, 8 lanes, the project's baseline). Each copy lives in its own namespace
// (sdpp::cpu::avx2 / sdpp::cpu::avx512) and kernel_set.cpp picks one at run time from cpuid.
//
// The AVX-512 copy gets its instructions from `#pragma GCC target`, not from -mavx512f on the
// command line: with the flag, inline functions from shared headers (View, std::vector, ...) would
// be emitted with AVX-512 code too, and the linker may keep that copy for the whole program, which
// then dies with SIGILL on an AVX2-only CPU. Under the pragma only the code between
// SDPP_KERNELS_BEGIN and SDPP_KERNELS_END is AVX-512; every header is included before it.
//
// Usage in a kernel file: all #includes first (this header last), then SDPP_KERNELS_BEGIN, then
// #include "backend/cpu/kernels/vec.h" (it defines the vector helpers in the ISA namespace), then
// the kernels, then SDPP_KERNELS_END.
#pragma once
#include "backend/backend.h"

#include <immintrin.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>

#if defined(SDPP_KERNEL_ISA_AVX512)
#if !defined(__GNUC__) || defined(__clang__)
#error "the AVX-512 kernel copy needs GCC's #pragma GCC target (CMake builds it only with GCC)"
#endif
#define SDPP_KERNEL_NS avx512
#define SDPP_KERNELS_BEGIN                                                          \
    _Pragma("GCC push_options")                                                     \
    _Pragma("GCC target(\"avx2,fma,f16c,avx512f,avx512bw,avx512dq,avx512vl\")")    \
    namespace sdpp::cpu::avx512 {
#define SDPP_KERNELS_END \
    }                    \
    _Pragma("GCC pop_options")
#else
#define SDPP_KERNEL_NS avx2
#define SDPP_KERNELS_BEGIN namespace sdpp::cpu::avx2 {
#define SDPP_KERNELS_END }
#endif
