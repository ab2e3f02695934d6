// The Backend interface under ops.h (the ATen-stub / MLX-primitive idea): one virtual per coarse
// op, over raw views (pointer, shape, strides, dtype), writing into preallocated outputs. The ops.h
// front ends validate and allocate; a backend trusts what it is given. Each method documents the
// layouts it accepts; the front ends bring inputs into those layouts.
//
// Backends: ref/ (naive double-accumulating loops, the test oracle) and cpu/ (oneDNN + own
// vectorised OpenMP kernels, the production path).
#pragma once
#include "core/tensor.h"

#include <memory>
#include <span>
#include <string>

namespace sdpp {

// A raw view of tensor memory. `storage` identifies the owning block (for weight caches); it may
// be empty for views that are not tensors.
struct View {
    void* data = nullptr;
    DType dtype = DType::F32;
    Shape shape;
    std::vector<int64_t> strides;  // in elements
    std::weak_ptr<std::byte> storage;

    bool defined() const { return data != nullptr; }
    int ndim() const { return int(shape.size()); }
    int64_t numel() const { return numel_of(shape); }
    bool is_contiguous() const;
    template <class T> T* as() const { return static_cast<T*>(data); }
    float* f32() const { return static_cast<float*>(data); }
};

View view_of(const Tensor& t);  // undefined tensor -> undefined view

enum class Unary : uint8_t { SiLU, GeluErf, GeluTanh, QuickGelu, ReLU, Tanh };
enum class Binary : uint8_t { Add, Sub, Mul };
enum class Reduce : uint8_t { Mean, Std };
// fused after conv2d; SumReLU: y = relu(conv + y), adding into what y holds (a residual)
enum class Act : uint8_t { None, SiLU, ReLU, SumReLU };
// Zero padding of a conv2d input, per side.
struct Pad2d {
    int top = 0, bottom = 0, left = 0, right = 0;
    static Pad2d all(int p) { return {p, p, p, p}; }
    bool zero() const { return top == 0 && bottom == 0 && left == 0 && right == 0; }
};
enum class WeightUse : uint8_t { Conv2d, Linear };  // prepare_weight hint

enum class Op : uint8_t {
    Conv2d, Linear, Matmul, GroupNorm, LayerNorm, Softmax, Attention, Unary, Geglu, Binary, Scale,
    Concat, Upsample, Resize, Reduce
};

// What a backend counts about itself (tests and --verbose read them; zero where it does not apply).
struct BackendCounters {
    size_t reference_fallbacks = 0;          // primitives that fell back to a library's slow reference kernel
    size_t weights_converted_in_blocks = 0;  // weights converted a few output-channel blocks at a time
    size_t block_staging_peak_bytes = 0;     // the largest staging chunk those conversions used
};

class Backend {
public:
    virtual ~Backend() = default;
    virtual const char* name() const = 0;
    // One line on what runs underneath (kernel set, ISA), for `sdpp version` and `sdpp bench`.
    virtual std::string describe() const { return name(); }
    // Whether `op` runs in `compute` precision natively (false: the backend falls back to f32).
    virtual bool supports(Op op, DType compute) const { return compute == DType::F32; }

    // Load-time hook: convert / reorder a weight into the backend's preferred layout now, so that
    // the first call does not pay for it. Optional; the kernels prepare lazily otherwise.
    // For convs, `conv` = {in_h, in_w, stride, padding} of the call the weight will serve.
    virtual void prepare_weight(const View& w, WeightUse use, DType compute, std::span<const int64_t> conv = {}) {}
    // Drops every prepared weight this backend caches.
    virtual void release_prepared_weights() {}
    // Bytes held by prepared weights.
    virtual size_t prepared_weight_bytes() const { return 0; }
    // Cap on prepared-weight bytes; past it weights are prepared per call (see ops.h).
    virtual void set_prepared_weight_limit(size_t bytes) {}
    virtual BackendCounters counters() const { return {}; }

    // The device this backend's kernels read and write, and a tensor there from `alloc` (which
    // must serve that device). Ops allocate their outputs through this.
    virtual Device device() const { return Device::CPU; }
    virtual Tensor empty(Allocator& alloc, const Shape& shape, DType dtype);

    // ---- dense: x, y f32; weights f32/f16/bf16 contiguous; bias f32 [Cout] or undefined
    // x [N,Cin,H,W] contiguous, w [Cout,Cin,kh,kw], y [N,Cout,Ho,Wo] with unit last stride (free
    // N/C/H strides: y may be a slice of rows of a bigger map).
    virtual void conv2d(const View& x, const View& w, const View& bias, int stride, Pad2d pad, Act act,
                        DType compute, const View& y) = 0;
    // x [M,K] (row stride free, unit column stride), w [N,K] contiguous, y [M,N] contiguous.
    virtual void linear(const View& x, const View& w, const View& bias, DType compute, const View& y) = 0;
    // a [B,M,K], b [B,K,N] f32 with any strides (batch stride 0 broadcasts), y [B,M,N] contiguous:
    // y = alpha * a @ b.
    virtual void matmul(const View& a, const View& b, float alpha, DType compute, const View& y) = 0;

    // ---- normalisation (all contiguous f32; gamma/beta may be undefined)
    // x, y [N, C, S]
    virtual void group_norm(const View& x, int groups, const View& gamma, const View& beta, float eps,
                            bool silu, const View& y) = 0;
    // GroupNorm in two halves, for a map processed in pieces (the VAE decoder's row bands):
    // x [N, C, S] contiguous -> stats [N, groups, 2] contiguous: mean and 1/sqrt(var + eps) per group;
    // then the affine (+SiLU) with given stats of x [N, C, S'] (unit last stride, free N/C strides)
    // into y [N, C, S'] contiguous. stats' groups = stats.shape[1].
    virtual void group_norm_stats(const View& x, int groups, float eps, const View& stats) = 0;
    virtual void group_norm_apply(const View& x, const View& stats, const View& gamma, const View& beta, bool silu,
                                  const View& y) = 0;
    // x, y [R, C]
    virtual void layer_norm(const View& x, const View& gamma, const View& beta, float eps, const View& y) = 0;
    // x, y [R, C], softmax over C
    virtual void softmax(const View& x, const View& y) = 0;

    // q [B,Sq,H*D], k/v [B,Sk,H*D] f32 with unit last stride and free row/batch strides;
    // y [B,Sq,H*D] contiguous. scale > 0.
    virtual void attention(const View& q, const View& k, const View& v, int heads, bool causal, float scale,
                           DType compute, const View& y) = 0;

    // ---- elementwise (f32)
    virtual void unary(Unary op, const View& x, const View& y) = 0;    // both contiguous, same numel
    virtual void geglu(const View& x, const View& y) = 0;              // x [R,2F] contiguous -> y [R,F]
    // a, b: views with y's shape (broadcast dims have stride 0); y: any strides, not self-overlapping
    // (it may be a or b: elementwise in place).
    virtual void binary(Binary op, const View& a, const View& b, const View& y) = 0;
    virtual void scale(const View& x, float a, float b, const View& y) = 0;  // contiguous

    // ---- shape
    // x, y: f32 views of x's shape with any strides (y's must not overlap itself).
    virtual void copy(const View& x, const View& y) = 0;
    // xs: views of any strides with y's shape except along `dim`; y contiguous.
    virtual void concat(std::span<const View> xs, int dim, const View& y) = 0;
    // x [N,C,H,W] contiguous -> y [N,C,2H,2W]
    virtual void upsample_nearest2x(const View& x, const View& y) = 0;
    // x [N,C,H,W] contiguous -> y [N,C,Ho,Wo]
    virtual void resize_bilinear(const View& x, bool align_corners, const View& y) = 0;

    // ---- reductions: x [outer, n, inner] contiguous -> y [outer, inner]
    virtual void reduce(Reduce op, const View& x, bool unbiased, const View& y) = 0;
};

// A default CPU backend instance, for code with no backend of its own (tools, tests). It owns its
// caches like any other instance; an Engine makes its own with make_cpu_backend().
Backend& cpu_backend();
std::unique_ptr<Backend> make_cpu_backend();
Backend& ref_backend();

}  // namespace sdpp
