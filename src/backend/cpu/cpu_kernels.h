// The CPU backend's oneDNN half, dense.cpp: conv/linear/matmul with primitive and prepared-weight
// caches. The own kernels (attention, norms, elementwise) are compiled per instruction set in
// kernels/ and reached through kernel_set.h. cpu_backend.cpp binds both to the Backend interface.
#pragma once
#include "backend/backend.h"
#include "backend/cpu/kernel_set.h"

#include <memory>

namespace sdpp::cpu {

struct DenseState;

// How convolutions lay out activations: Auto picks per shape (blocked for large maps, plain NCHW
// for small ones; dense.cpp has the measurements); the others force one (benchmarks).
enum class ConvLayoutChoice : uint8_t { Auto, Blocked, Plain };

struct DenseCounters {
    size_t reference_fallbacks = 0;  // primitives for which oneDNN picked its (very slow) reference kernel
    size_t converted_in_blocks = 0;  // f16/bf16 conv weights converted a few output-channel blocks at a time
    size_t staging_peak_bytes = 0;   // the largest f32 staging chunk those conversions used
};

// conv / linear / matmul through oneDNN for one CPU backend instance, which owns this object's
// primitive cache, prepared weights, weight budget and counters.
class Dense {
public:
    Dense();
    ~Dense();
    Dense(const Dense&) = delete;
    Dense& operator=(const Dense&) = delete;

    void conv2d(const View& x, const View& w, const View& bias, int stride, Pad2d pad, Act act, DType compute,
                const View& y);
    void linear(const View& x, const View& w, const View& bias, DType compute, const View& y);
    void matmul(const View& a, const View& b, float alpha, DType compute, const View& y);
    void prepare_weight(const View& w, WeightUse use, DType compute, std::span<const int64_t> conv);
    void release_prepared_weights();
    size_t prepared_weight_bytes() const;
    void set_prepared_weight_limit(size_t bytes);
    void set_conv_layout(ConvLayoutChoice c);
    DenseCounters counters() const;

private:
    std::unique_ptr<DenseState> st_;
};

bool native_bf16();  // oneDNN has bf16 conv/matmul kernels on this CPU

}  // namespace sdpp::cpu
