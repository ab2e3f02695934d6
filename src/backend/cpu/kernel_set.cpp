// Run-time choice of the kernel set (kernel_set.h) from cpuid, and SDPP_CPU_ISA.
#include "backend/cpu/kernel_set.h"

#include "core/error.h"
#include "core/log.h"

#include <oneapi/dnnl/dnnl.hpp>

#include <cstdlib>
#include <vector>

namespace sdpp::cpu {

const CpuFeatures& cpu_features() {
    static const CpuFeatures f = [] {
        __builtin_cpu_init();
        CpuFeatures c;
        c.avx2 = __builtin_cpu_supports("avx2");
        c.fma = __builtin_cpu_supports("fma");
        c.f16c = __builtin_cpu_supports("f16c");
        c.avx512f = __builtin_cpu_supports("avx512f");
        c.avx512bw = __builtin_cpu_supports("avx512bw");
        c.avx512dq = __builtin_cpu_supports("avx512dq");
        c.avx512vl = __builtin_cpu_supports("avx512vl");
        c.avx512_bf16 = __builtin_cpu_supports("avx512bf16");
        c.avx512_vnni = __builtin_cpu_supports("avx512vnni");
        return c;
    }();
    return f;
}

std::span<const KernelSet* const> runnable_kernel_sets() {
    static const std::vector<const KernelSet*> sets = [] {
        std::vector<const KernelSet*> s{&avx2::kernel_set};
#if SDPP_HAVE_AVX512_KERNELS
        if (cpu_features().has_avx512_kernel_isa()) s.push_back(&avx512::kernel_set);
#endif
        return s;
    }();
    return sets;
}

namespace {
const KernelSet& choose() {
    const auto sets = runnable_kernel_sets();
    const char* forced = std::getenv("SDPP_CPU_ISA");
    if (!forced || !*forced) return *sets.back();  // the widest this CPU runs
    const std::string want = forced;
    for (const KernelSet* s : sets)
        if (want == s->name) {
            // oneDNN too: an AVX-512 machine then runs as an AVX2-only one would (no bf16 kernels).
            if (want == "avx2") dnnl::set_max_cpu_isa(dnnl::cpu_isa::avx2);
            log_debug("kernels: ", want, " (SDPP_CPU_ISA)");
            return *s;
        }
    std::string names;
    for (const KernelSet* s : sets) names += std::string(names.empty() ? "" : ", ") + s->name;
    throw error("SDPP_CPU_ISA=", want, " is not a kernel set this CPU and build can run (", names, ")");
}
}  // namespace

const KernelSet& kernels() {
    static const KernelSet& k = choose();
    return k;
}

std::string onednn_isa() {
    kernels();  // SDPP_CPU_ISA first: it caps oneDNN
    switch (dnnl::get_effective_cpu_isa()) {
        case dnnl::cpu_isa::sse41: return "sse41";
        case dnnl::cpu_isa::avx: return "avx";
        case dnnl::cpu_isa::avx2: return "avx2";
        case dnnl::cpu_isa::avx2_vnni: return "avx2_vnni";
        case dnnl::cpu_isa::avx512_core: return "avx512_core";
        case dnnl::cpu_isa::avx512_core_vnni: return "avx512_core_vnni";
        case dnnl::cpu_isa::avx512_core_bf16: return "avx512_core_bf16";
        case dnnl::cpu_isa::avx512_core_amx: return "avx512_core_amx";
        default: return "other";
    }
}

}  // namespace sdpp::cpu
