// The op interface model code calls. Front ends validate shapes/dtypes (errors name the op and the
// shapes), allocate the output and dispatch to the context's backend; kernels trust their inputs.
//
// Conventions
// - PyTorch dimension order: images [N, C, H, W]; sequences [B, S, C].
// - Activations are f32 in and out. Weights may be f32, f16 or bf16; ctx.compute_dtype (f32 or bf16)
//   is the precision conv/linear/matmul/attention use internally (bf16 = bf16 products, f32 accumulation).
// - Inputs may be non-contiguous views unless a comment says otherwise; outputs are contiguous.
// - An undefined Tensor() means "absent" (e.g. no bias).
#pragma once
#include "backend/backend.h"  // Pad2d
#include "core/tensor.h"

#include <span>
#include <string>

namespace sdpp {

class Backend;

// What an op runs on: the backend (its device, kernels and caches) and the allocator outputs come
// from. An Engine's contexts name its own backend and allocator; a default Ctx{} uses the default
// CPU backend and the thread's current allocator (core/allocator.h).
struct Ctx {
    Backend* backend = nullptr;            // nullptr: cpu_backend()
    Allocator* allocator = nullptr;        // nullptr: current_allocator()
    DType compute_dtype = DType::F32;      // F32 or BF16
    Backend& be() const;
    Allocator& alloc() const;
};

// ---- dense -----------------------------------------------------------------------------------
// x [N, Cin, H, W], w [Cout, Cin, kh, kw], bias [Cout] or undefined -> [N, Cout, Ho, Wo]
Tensor conv2d(Ctx& ctx, const Tensor& x, const Tensor& w, const Tensor& bias, int stride = 1, int padding = 0);
// The same with an activation fused after the bias (Act::SiLU, Act::ReLU).
Tensor conv2d(Ctx& ctx, const Tensor& x, const Tensor& w, const Tensor& bias, int stride, int padding, Act act);
// Channels-last activations: a [N, C, H, W] tensor whose memory is NHWC (strides [H*W*C, 1, W*C, C]).
// conv2d reads them without a copy, and the *_cl forms write them, which spares oneDNN's reorder to
// and from channels-last around each convolution (the 64-channel TAESD: about a third of its time).
// Other ops take them as non-contiguous views (a copy first where they need contiguous input).
bool is_channels_last(const Tensor& x);
Tensor empty_channels_last(Ctx& ctx, const Shape& nchw);
// conv2d (+ act) with a channels-last output.
Tensor conv2d_cl(Ctx& ctx, const Tensor& x, const Tensor& w, const Tensor& bias, int stride, int padding, Act act);
// y = relu(conv2d(x) + y) in place (a residual block's end); y an f32 [N, Cout, Ho, Wo], contiguous or
// channels-last.
void conv2d_add_relu(Ctx& ctx, const Tensor& x, const Tensor& w, const Tensor& bias, int stride, int padding,
                     const Tensor& y);
// A conv written into y, with per-side zero padding (e.g. none above or below where x already
// carries the neighbouring rows: the row bands of the VAE). y: a view of shape
// [N, Cout, (H + top + bottom - kh) / stride + 1, (W + left + right - kw) / stride + 1] with unit
// last stride, e.g. a slice of rows of a bigger map.
void conv2d_into(Ctx& ctx, const Tensor& x, const Tensor& w, const Tensor& bias, int stride, Pad2d pad,
                 const Tensor& y);
// x [..., in], w [out, in] (nn.Linear layout), bias [out] or undefined -> [..., out]
Tensor linear(Ctx& ctx, const Tensor& x, const Tensor& w, const Tensor& bias);
// a [..., M, K] (or [..., K, M] with trans_a), b [..., K, N] (or [..., N, K] with trans_b);
// leading batch dims broadcast. Returns alpha * a @ b, [..., M, N].
Tensor matmul(Ctx& ctx, const Tensor& a, const Tensor& b, bool trans_a = false, bool trans_b = false,
              float alpha = 1.0f);

// ---- normalisation ---------------------------------------------------------------------------
// x [N, C, *], gamma/beta [C] (or undefined); optional SiLU fused after the affine.
Tensor group_norm(Ctx& ctx, const Tensor& x, int groups, const Tensor& gamma, const Tensor& beta, float eps,
                  bool fuse_silu = false);
// The same in two halves, for a map processed in pieces (the VAE decoder's row bands): statistics
// of the whole x [N, C, *] -> [N, groups, 2] (mean, 1/sqrt(var + eps)); then the affine (+SiLU) of
// any x' [N, C, *] with them, e.g. a slice of rows of x (read in place when the dims past C form
// one unit-stride run). apply(x, stats(x)) equals group_norm(x) exactly.
Tensor group_norm_stats(Ctx& ctx, const Tensor& x, int groups, float eps);
Tensor group_norm_apply(Ctx& ctx, const Tensor& x, const Tensor& stats, const Tensor& gamma, const Tensor& beta,
                        bool fuse_silu = false);
// Normalises over the last dim; gamma/beta [C].
Tensor layer_norm(Ctx& ctx, const Tensor& x, const Tensor& gamma, const Tensor& beta, float eps);
// Softmax over the last dim.
Tensor softmax(Ctx& ctx, const Tensor& x);

// ---- attention -------------------------------------------------------------------------------
// Multi-head scaled-dot-product attention without materialising [Sq, Sk] for long sequences
// (tiled online softmax). q [B, Sq, H*D], k and v [B, Sk, H*D] (the last dim must be contiguous;
// row strides are free, so q/k/v may be slices of one packed projection). scale 0 = 1/sqrt(D).
// causal: query i attends to keys j <= i (CLIP). Returns [B, Sq, H*D].
Tensor attention(Ctx& ctx, const Tensor& q, const Tensor& k, const Tensor& v, int n_heads, bool causal = false,
                 float scale = 0.0f);

// ---- activations -----------------------------------------------------------------------------
Tensor silu(Ctx& ctx, const Tensor& x);
Tensor gelu(Ctx& ctx, const Tensor& x, bool tanh_approx = false);  // exact erf form by default
Tensor quick_gelu(Ctx& ctx, const Tensor& x);                       // x * sigmoid(1.702 x)
Tensor relu(Ctx& ctx, const Tensor& x);                             // max(x, 0)
Tensor tanh_act(Ctx& ctx, const Tensor& x);                         // tanh(x) (not `tanh`: it would hide ::tanh)
// x [..., 2F] -> x[..., :F] * gelu(x[..., F:])  (diffusers GEGLU: hidden, gate = chunk(2))
Tensor geglu(Ctx& ctx, const Tensor& x);

// ---- elementwise, numpy broadcasting ----------------------------------------------------------
Tensor add(Ctx& ctx, const Tensor& a, const Tensor& b);
// y += a in place; y may be a view (e.g. rows of a bigger map), a broadcasts to y's shape.
void add_into(Ctx& ctx, const Tensor& y, const Tensor& a);
Tensor sub(Ctx& ctx, const Tensor& a, const Tensor& b);
Tensor mul(Ctx& ctx, const Tensor& a, const Tensor& b);
Tensor scale(Ctx& ctx, const Tensor& x, float a, float b = 0.0f);  // a * x + b

// ---- shape -----------------------------------------------------------------------------------
// x itself when contiguous; else a contiguous copy (f32 through the backend: tiled transposes for
// the [N, C, HW] <-> [N, HW, C] views around attention; other dtypes through Tensor::contiguous).
Tensor contiguous(Ctx& ctx, const Tensor& x);
// Writes src into dst, a view (e.g. a slice of rows) of an f32 tensor with dst's shape.
void copy_into(Ctx& ctx, const Tensor& dst, const Tensor& src);
Tensor concat(Ctx& ctx, std::span<const Tensor> xs, int dim);
Tensor upsample_nearest2x(Ctx& ctx, const Tensor& x);                       // [N,C,H,W] -> [N,C,2H,2W]
// Bilinear resize of [N, C, H, W] (torch F.interpolate(mode="bilinear", antialias=False)).
Tensor resize_bilinear(Ctx& ctx, const Tensor& x, int64_t out_h, int64_t out_w, bool align_corners = false);

// ---- reductions ------------------------------------------------------------------------------
Tensor mean(Ctx& ctx, const Tensor& x, int dim, bool keepdim = false);
Tensor std_dev(Ctx& ctx, const Tensor& x, int dim, bool keepdim = false, bool unbiased = true);

// ---- weight preparation (optional load-time hooks; added by the kernels engineer) --------------
// Converts/reorders a conv2d or linear weight into the backend's preferred form now, so the first
// forward call does not pay for it. Without these the backend prepares weights lazily on first use
// (cached by storage; the cache entry dies with the weight's storage).
// The conv kernel's weight layout depends on the image size it runs at (docs/performance.md), so
// pass the input size the layer will see (an SD 1.5 U-Net at 512x512: 64, 32, 16 or 8). A weight
// keeps one prepared copy: preparing it for another layout replaces the old one.
void prepare_conv2d_weight(Ctx& ctx, const Tensor& w, int64_t in_h = 64, int64_t in_w = 64, int stride = 1,
                           int padding = -1);
void prepare_linear_weight(Ctx& ctx, const Tensor& w);
// Drops every prepared weight the context's backend holds (e.g. before loading another model).
void release_prepared_weights(Ctx& ctx);
size_t prepared_weight_bytes(Ctx& ctx);
// Caps the bytes of prepared weights kept (default: no cap). Past the cap, weights that need a
// conversion (f16/bf16 -> f32) or reorder are prepared per call into scratch memory instead:
// lower peak memory, slower calls (the conversion is re-done every forward).
void set_prepared_weight_limit(Ctx& ctx, size_t bytes);

}  // namespace sdpp
