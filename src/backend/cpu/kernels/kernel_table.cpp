// This instruction set's kernels as one KernelSet (backend/cpu/kernel_set.h); kernel_set.cpp
// chooses between the copies at run time.
#include "backend/cpu/kernel_set.h"
#include "backend/cpu/kernels/isa.h"

SDPP_KERNELS_BEGIN
#include "backend/cpu/kernels/kernels.h"

#if defined(SDPP_KERNEL_ISA_AVX512)
#define SDPP_KERNEL_NAME "avx512"
#define SDPP_KERNEL_LANES 16
#else
#define SDPP_KERNEL_NAME "avx2"
#define SDPP_KERNEL_LANES 8
#endif

const KernelSet kernel_set{
    .name = SDPP_KERNEL_NAME,
    .lanes = SDPP_KERNEL_LANES,
    .attention = attention,
    .group_norm = group_norm,
    .group_norm_stats = group_norm_stats,
    .group_norm_apply = group_norm_apply,
    .layer_norm = layer_norm,
    .softmax = softmax,
    .unary = unary,
    .geglu = geglu,
    .binary = binary,
    .scale = scale,
    .concat = concat,
    .upsample_nearest2x = upsample_nearest2x,
    .resize_bilinear = resize_bilinear,
    .reduce = reduce,
    .bias_act_rows = bias_act_rows,
    .copy_to_contiguous = copy_to_contiguous,
    .copy_strided = copy_strided,
};
SDPP_KERNELS_END
