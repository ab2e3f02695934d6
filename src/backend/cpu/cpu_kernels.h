// The CPU backend's oneDNN half, dense.cpp: conv/linear/matmul with primitive and prepared-weight
// caches. The own kernels (attention, norms, elementwise) are compiled per instruction set in
// kernels/ and reached through kernel_set.h. cpu_backend.cpp binds both to the Backend interface.
#pragma once
#include "backend/backend.h"
#include "backend/cpu/kernel_set.h"

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
// The largest f32 staging chunk that blockwise conversion has used so far, in bytes (tests).
size_t block_staging_peak_bytes();
// Primitives for which oneDNN picked its (very slow) reference kernel; logged as warnings.
size_t reference_fallbacks();

}  // namespace sdpp::cpu
