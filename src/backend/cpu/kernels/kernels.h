// The kernels of this folder, declared for one instruction set: included right after
// SDPP_KERNELS_BEGIN (isa.h), so the names land in sdpp::cpu::avx2 or sdpp::cpu::avx512.
// kernel_table.cpp collects them into that namespace's KernelSet (backend/cpu/kernel_set.h),
// where the layouts each one accepts are documented.

// attention.cpp
void attention(const View& q, const View& k, const View& v, int heads, bool causal, float scale, DType compute,
               const View& y);
#if defined(SDPP_KERNEL_ISA_AVX512)
// attention_bf16.cpp: bf16 products on AVX-512 BF16 (the caller checks cpuid); head dim <= 256.
void attention_bf16(const View& q, const View& k, const View& v, int heads, bool causal, float scale, const View& y);
#endif

// norm.cpp
void group_norm(const View& x, int groups, const View& gamma, const View& beta, float eps, bool silu,
                const View& y);
void group_norm_stats(const View& x, int groups, float eps, const View& stats);
void group_norm_apply(const View& x, const View& stats, const View& gamma, const View& beta, bool silu,
                      const View& y);
void layer_norm(const View& x, const View& gamma, const View& beta, float eps, const View& y);
void softmax(const View& x, const View& y);

// elementwise.cpp
void unary(Unary op, const View& x, const View& y);
void geglu(const View& x, const View& y);
void binary(Binary op, const View& a, const View& b, const View& y);
void scale(const View& x, float a, float b, const View& y);
void concat(std::span<const View> xs, int dim, const View& y);
void upsample_nearest2x(const View& x, const View& y);
void resize_bilinear(const View& x, bool align_corners, const View& y);
void reduce(Reduce op, const View& x, bool unbiased, const View& y);
void bias_act_rows(float* y, int64_t rows, int64_t len, const float* bias, int64_t channels, Act act);
void copy_to_contiguous(const View& src, float* dst);
void copy_strided(const View& src, const View& dst);
