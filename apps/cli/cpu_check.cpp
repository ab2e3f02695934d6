// Refuses, with one line and exit code 2, to run on a CPU without what the build requires (AVX2,
// FMA, F16C: see CMakeLists.txt), instead of dying later with SIGILL. Compiled without AVX (its
// CMake flags) and run as an early constructor, before other code of this binary can use AVX.
#include <cstdio>
#include <cstdlib>

namespace {
__attribute__((constructor(101))) void require_baseline_isa() {
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") && __builtin_cpu_supports("f16c")) return;
    std::fputs("error: this CPU lacks AVX2, FMA or F16C, which this build of sdpp requires (x86-64 from 2013 on); "
               "rebuild with -DSDPP_NATIVE=ON on this machine\n",
               stderr);
    std::_Exit(2);
}
}  // namespace
