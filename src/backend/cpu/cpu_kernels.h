// The CPU backend's kernels, one group per file: dense.cpp (oneDNN conv/linear/matmul with
// primitive and prepared-weight caches), attention.cpp (tiled online-softmax attention),
// norm.cpp (group/layer norm, softmax), elementwise.cpp (activations, broadcasting binary ops,
// shape ops, reductions). cpu_backend.cpp binds them to the Backend interface.
#pragma once
#include "backend/backend.h"

namespace sdpp::cpu {

// dense.cpp
void conv2d(const View& x, const View& w, const View& bias, int stride, Pad2d pad, Act act, DType compute,
            const View& y);
void linear(const View& x, const View& w, const View& bias, DType compute, const View& y);
void matmul(const View& a, const View& b, float alpha, DType compute, const View& y);
void prepare_weight(const View& w, WeightUse use, DType compute, std::span<const int64_t> conv);
void release_prepared_weights();
size_t prepared_weight_bytes();
void set_prepared_weight_limit(size_t bytes);
bool native_bf16();  // oneDNN has bf16 conv/matmul kernels on this CPU
// f16/bf16 conv weights converted a few output-channel blocks at a time so far (tests).
size_t weights_converted_in_blocks();
// Primitives for which oneDNN picked its (very slow) reference kernel; logged as warnings.
size_t reference_fallbacks();

// attention.cpp
void attention(const View& q, const View& k, const View& v, int heads, bool causal, float scale, DType compute,
               const View& y);

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
// y[r, :len] = act(y[r, :len] + bias[r % channels]) for r < rows (bias may be null).
void bias_act_rows(float* y, int64_t rows, int64_t len, const float* bias, int64_t channels, Act act);
// Copies any-strided f32 `src` into contiguous `dst` of the same shape (threaded).
void copy_to_contiguous(const View& src, float* dst);
// Copies any-strided f32 `src` into `dst` of the same shape and any strides (threaded).
void copy_strided(const View& src, const View& dst);

}  // namespace sdpp::cpu
