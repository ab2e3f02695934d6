// The CPU backend's own kernels (everything but conv / linear / matmul, which oneDNN runs and
// dispatches by ISA itself), compiled once per instruction set (kernels/isa.h) and chosen at run
// time from cpuid: AVX-512 F/BW/DQ/VL where the CPU has it, else AVX2 + FMA + F16C, the baseline
// every build requires. SDPP_CPU_ISA=avx2 forces the AVX2 copy on an AVX-512 CPU and caps oneDNN at
// AVX2 too, so one machine can test both paths (a test/debug switch: both give the same results
// within the kernels' tolerances).
#pragma once
#include "backend/backend.h"

#include <span>
#include <string>

namespace sdpp::cpu {

struct KernelSet {
    const char* name;  // "avx2" / "avx512"
    int lanes;         // f32 lanes per vector
    // x, y f32. q [B,Sq,H*d], k/v [B,Sk,H*d] (unit last stride), y [B,Sq,H*d] contiguous.
    void (*attention)(const View& q, const View& k, const View& v, int heads, bool causal, float scale,
                      DType compute, const View& y);
    // x [N,C,S] contiguous (apply: any N/C strides), stats [N,groups,2] = (mean, rstd).
    void (*group_norm)(const View& x, int groups, const View& gamma, const View& beta, float eps, bool silu,
                       const View& y);
    void (*group_norm_stats)(const View& x, int groups, float eps, const View& stats);
    void (*group_norm_apply)(const View& x, const View& stats, const View& gamma, const View& beta, bool silu,
                             const View& y);
    // x, y [R,C] contiguous.
    void (*layer_norm)(const View& x, const View& gamma, const View& beta, float eps, const View& y);
    void (*softmax)(const View& x, const View& y);
    void (*unary)(Unary op, const View& x, const View& y);
    void (*geglu)(const View& x, const View& y);
    void (*binary)(Binary op, const View& a, const View& b, const View& y);
    void (*scale)(const View& x, float a, float b, const View& y);
    void (*concat)(std::span<const View> xs, int dim, const View& y);
    void (*upsample_nearest2x)(const View& x, const View& y);
    void (*resize_bilinear)(const View& x, bool align_corners, const View& y);
    void (*reduce)(Reduce op, const View& x, bool unbiased, const View& y);
    // y[r, :len] = act(y[r, :len] + bias[r % channels]) for r < rows (bias may be null).
    void (*bias_act_rows)(float* y, int64_t rows, int64_t len, const float* bias, int64_t channels, Act act);
    // Any-strided f32 `src` into contiguous `dst` / into `dst` of any strides (threaded).
    void (*copy_to_contiguous)(const View& src, float* dst);
    void (*copy_strided)(const View& src, const View& dst);
};

namespace avx2 {
extern const KernelSet kernel_set;
}
namespace avx512 {
extern const KernelSet kernel_set;  // defined only in builds with SDPP_HAVE_AVX512_KERNELS
}

// What this CPU can run, from cpuid.
struct CpuFeatures {
    bool avx2 = false, fma = false, f16c = false;
    bool avx512f = false, avx512bw = false, avx512dq = false, avx512vl = false;
    bool avx512_bf16 = false, avx512_vnni = false;
    bool has_avx512_kernel_isa() const { return avx512f && avx512bw && avx512dq && avx512vl; }
};
const CpuFeatures& cpu_features();

// The kernel set this process runs, chosen once (the first call also applies SDPP_CPU_ISA to
// oneDNN, so it runs before the first oneDNN primitive is made). Throws sdpp::Error for an
// SDPP_CPU_ISA the CPU or the build cannot run.
const KernelSet& kernels();
// Every kernel set this CPU can run (tests compare them against each other).
std::span<const KernelSet* const> runnable_kernel_sets();
// The ISA oneDNN dispatches to on this CPU (after SDPP_CPU_ISA), e.g. "avx512_core_bf16".
std::string onednn_isa();

}  // namespace sdpp::cpu
