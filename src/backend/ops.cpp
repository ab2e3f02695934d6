// ops.h front ends (the ATen/MLX op layer): validate shapes and dtypes with messages that name the
// op and the shapes, bring inputs into the layouts backend.h documents, have the backend allocate
// outputs from the context's allocator (out()), and dispatch to ctx.be().
#include "backend/ops.h"

#include "backend/backend.h"

#include <algorithm>
#include <cmath>

namespace sdpp {

Backend& Ctx::be() const { return backend ? *backend : cpu_backend(); }
Allocator& Ctx::alloc() const { return allocator ? *allocator : current_allocator(); }

Tensor Backend::empty(Allocator& alloc, const Shape& shape, DType dtype) {
    SDPP_CHECK(alloc.device() == device(), "[", name(), "] an allocator of another device was given");
    return Tensor::empty(shape, dtype, alloc);
}

bool View::is_contiguous() const {
    int64_t acc = 1;
    for (int i = ndim() - 1; i >= 0; --i) {
        if (shape[i] != 1 && strides[i] != acc) return false;
        acc *= shape[i];
    }
    return true;
}

View view_of(const Tensor& t) {
    View v;
    if (!t.defined()) return v;
    v.data = t.raw();
    v.dtype = t.dtype();
    v.shape = t.shape();
    v.strides = t.strides();
    v.storage = t.storage();
    return v;
}

namespace {

// An op's output: the backend allocates it on its device from the context's allocator.
Tensor out(Ctx& ctx, const Shape& shape) { return ctx.be().empty(ctx.alloc(), shape, DType::F32); }

void check_compute(const char* op, const Ctx& ctx) {
    SDPP_CHECK(ctx.compute_dtype == DType::F32 || ctx.compute_dtype == DType::BF16, "[", op,
               "] compute dtype must be f32 or bf16, got ", dtype_name(ctx.compute_dtype));
}

// Activations: f32 (f16/bf16 inputs are converted, other types rejected).
Tensor act_f32(const char* op, const char* what, const Tensor& x) {
    SDPP_CHECK(x.defined(), "[", op, "] ", what, " is undefined");
    SDPP_CHECK(is_float(x.dtype()) && x.dtype() != DType::F64, "[", op, "] ", what, " ", x.shape_str(),
               " has dtype ", dtype_name(x.dtype()), "; expected f32");
    return x.dtype() == DType::F32 ? x : x.to(DType::F32);
}

Tensor act_contig(Ctx& ctx, const char* op, const char* what, const Tensor& x) {
    return contiguous(ctx, act_f32(op, what, x));
}

// Optional per-channel parameter [C] as contiguous f32.
Tensor param(const char* op, const char* what, const Tensor& p, int64_t c) {
    if (!p.defined()) return p;
    SDPP_CHECK(p.ndim() == 1 && p.dim(0) == c, "[", op, "] ", what, " ", p.shape_str(), " must be [", c, "]");
    SDPP_CHECK(is_float(p.dtype()), "[", op, "] ", what, " has dtype ", dtype_name(p.dtype()));
    return p.to(DType::F32);
}

Tensor weight(const char* op, const Tensor& w) {
    SDPP_CHECK(w.defined(), "[", op, "] weight is undefined");
    SDPP_CHECK(w.dtype() == DType::F32 || w.dtype() == DType::F16 || w.dtype() == DType::BF16, "[", op,
               "] weight ", w.shape_str(), " has dtype ", dtype_name(w.dtype()), "; expected f32, f16 or bf16");
    return w.contiguous();
}

int norm_dim(const char* op, int d, int n, const Tensor& x) {
    SDPP_CHECK(d >= -n && d < n, "[", op, "] dim ", d, " out of range for ", x.shape_str());
    return d < 0 ? d + n : d;
}

Shape broadcast_shapes(const char* op, const Shape& a, const Shape& b) {
    size_t n = std::max(a.size(), b.size());
    Shape out(n);
    for (size_t i = 0; i < n; ++i) {
        int64_t da = i < n - a.size() ? 1 : a[i - (n - a.size())];
        int64_t db = i < n - b.size() ? 1 : b[i - (n - b.size())];
        SDPP_CHECK(da == db || da == 1 || db == 1, "[", op, "] shapes ", to_string(a), " and ", to_string(b),
                   " do not broadcast");
        out[i] = da == 1 ? db : da;
    }
    return out;
}

// Collapses dims [0, n) of a view into one (size, stride); false if they do not collapse.
bool collapse(const Shape& shape, const std::vector<int64_t>& strides, int n, int64_t& size, int64_t& stride) {
    size = 1;
    stride = 0;
    int64_t expect = -1;
    for (int i = n - 1; i >= 0; --i) {
        if (shape[i] == 1) continue;
        if (expect < 0) {
            stride = strides[i];
            expect = strides[i] * shape[i];
        } else {
            if (strides[i] != expect) return false;
            expect = strides[i] * shape[i];
        }
        size *= shape[i];
    }
    return true;
}

}  // namespace

// ---- dense ------------------------------------------------------------------------------------

namespace {
// conv2d / conv2d_into inputs, validated (errors name `op`), and the output shape.
struct ConvCall {
    Tensor x, w, bias;
    Shape out;
};

ConvCall conv_call(Ctx& ctx, const char* op, const Tensor& x_, const Tensor& w_, const Tensor& bias_, int stride,
                   Pad2d pad) {
    check_compute(op, ctx);
    ConvCall c;
    c.x = x_.defined() && x_.dtype() == DType::F32 && is_channels_last(x_) ? x_ : act_contig(ctx, op, "input", x_);
    SDPP_CHECK(c.x.ndim() == 4, "[", op, "] input ", c.x.shape_str(), " must be [N, C, H, W]");
    c.w = weight(op, w_);
    SDPP_CHECK(c.w.ndim() == 4, "[", op, "] weight ", c.w.shape_str(), " must be [Cout, Cin, kh, kw]");
    SDPP_CHECK(c.x.dim(1) == c.w.dim(1), "[", op, "] input ", c.x.shape_str(), " has ", c.x.dim(1),
               " channels; weight ", c.w.shape_str(), " expects ", c.w.dim(1));
    SDPP_CHECK(stride >= 1 && pad.top >= 0 && pad.bottom >= 0 && pad.left >= 0 && pad.right >= 0, "[", op,
               "] bad stride ", stride, " / padding ", pad.top, ",", pad.bottom, ",", pad.left, ",", pad.right);
    c.bias = param(op, "bias", bias_, c.w.dim(0));
    const int64_t hp = c.x.dim(2) + pad.top + pad.bottom, wp = c.x.dim(3) + pad.left + pad.right;
    SDPP_CHECK(hp >= c.w.dim(2) && wp >= c.w.dim(3), "[", op, "] input ", c.x.shape_str(), " is smaller than kernel ",
               c.w.shape_str(), " with padding ", pad.top, ",", pad.bottom, ",", pad.left, ",", pad.right);
    c.out = {c.x.dim(0), c.w.dim(0), (hp - c.w.dim(2)) / stride + 1, (wp - c.w.dim(3)) / stride + 1};
    return c;
}
}  // namespace

Tensor conv2d(Ctx& ctx, const Tensor& x, const Tensor& w, const Tensor& bias, int stride, int padding) {
    return conv2d(ctx, x, w, bias, stride, padding, Act::None);
}

bool is_channels_last(const Tensor& x) {
    if (!x.defined() || x.ndim() != 4) return false;
    const int64_t c = x.dim(1), h = x.dim(2), w = x.dim(3);
    return x.stride(1) == 1 && x.stride(3) == c && x.stride(2) == w * c && x.stride(0) == h * w * c;
}

Tensor empty_channels_last(Ctx& ctx, const Shape& s) {
    SDPP_CHECK(s.size() == 4, "[empty_channels_last] shape ", to_string(s), " must be [N, C, H, W]");
    return out(ctx, {s[0], s[2], s[3], s[1]}).permute({0, 3, 1, 2});  // NHWC memory, NCHW dims
}

namespace {

// conv2d and conv2d_cl: the same call into a fresh output, NCHW or channels-last memory.
Tensor conv2d_new(Ctx& ctx, const char* name, const Tensor& x, const Tensor& w, const Tensor& bias, int stride,
                  int padding, Act act, bool channels_last) {
    SDPP_CHECK(act != Act::SumReLU, "[", name, "] SumReLU needs an output to add into (conv2d_add_relu)");
    const Pad2d pad = Pad2d::all(padding);
    ConvCall c = conv_call(ctx, name, x, w, bias, stride, pad);
    Tensor y = channels_last ? empty_channels_last(ctx, c.out) : out(ctx, c.out);
    if (y.numel() == 0) return y;
    ctx.be().conv2d(view_of(c.x), view_of(c.w), view_of(c.bias), stride, pad, act, ctx.compute_dtype, view_of(y));
    return y;
}

}  // namespace

Tensor conv2d_cl(Ctx& ctx, const Tensor& x, const Tensor& w, const Tensor& bias, int stride, int padding, Act act) {
    return conv2d_new(ctx, "conv2d_cl", x, w, bias, stride, padding, act, true);
}

void conv2d_add_relu(Ctx& ctx, const Tensor& x, const Tensor& w, const Tensor& bias, int stride, int padding,
                     const Tensor& y) {
    const Pad2d pad = Pad2d::all(padding);
    ConvCall c = conv_call(ctx, "conv2d_add_relu", x, w, bias, stride, pad);
    SDPP_CHECK(y.defined() && y.dtype() == DType::F32 && y.shape() == c.out && (y.is_contiguous() || is_channels_last(y)),
               "[conv2d_add_relu] output ", y.defined() ? y.shape_str() : "(none)", " must be an f32 ", to_string(c.out),
               ", contiguous or channels-last");
    if (y.numel() == 0) return;
    ctx.be().conv2d(view_of(c.x), view_of(c.w), view_of(c.bias), stride, pad, Act::SumReLU, ctx.compute_dtype,
                    view_of(y));
}

Tensor conv2d(Ctx& ctx, const Tensor& x, const Tensor& w, const Tensor& bias, int stride, int padding, Act act) {
    return conv2d_new(ctx, "conv2d", x, w, bias, stride, padding, act, false);
}

void conv2d_into(Ctx& ctx, const Tensor& x, const Tensor& w, const Tensor& bias, int stride, Pad2d pad,
                 const Tensor& y) {
    ConvCall c = conv_call(ctx, "conv2d_into", x, w, bias, stride, pad);
    SDPP_CHECK(y.defined() && y.dtype() == DType::F32 && y.shape() == c.out && y.stride(3) == 1,
               "[conv2d_into] output ", y.defined() ? y.shape_str() : "(none)", " must be an f32 ", to_string(c.out),
               " view with unit last stride");
    for (int d = 0; d < 3; ++d)
        SDPP_CHECK(y.dim(d) == 1 || y.stride(d) > 0, "[conv2d_into] output ", y.shape_str(), " is a broadcast view");
    ctx.be().conv2d(view_of(c.x), view_of(c.w), view_of(c.bias), stride, pad, Act::None, ctx.compute_dtype,
                    view_of(y));
}

Tensor linear(Ctx& ctx, const Tensor& x_, const Tensor& w_, const Tensor& bias_) {
    check_compute("linear", ctx);
    Tensor x = act_f32("linear", "input", x_);
    Tensor w = weight("linear", w_);
    SDPP_CHECK(w.ndim() == 2, "[linear] weight ", w.shape_str(), " must be [out, in]");
    SDPP_CHECK(x.ndim() >= 1 && x.dim(-1) == w.dim(1), "[linear] input ", x.shape_str(), " has ",
               x.ndim() ? x.dim(-1) : 0, " features; weight ", w.shape_str(), " expects ", w.dim(1));
    Tensor bias = param("linear", "bias", bias_, w.dim(0));
    int64_t m = 0, row_stride = 0;
    if (x.stride(-1) != 1 || !collapse(x.shape(), x.strides(), x.ndim() - 1, m, row_stride)) {
        x = contiguous(ctx, x);
        m = x.numel() / std::max<int64_t>(1, x.dim(-1));
        row_stride = x.dim(-1);
    }
    if (m <= 1) row_stride = x.dim(-1);
    Shape ys = x.shape();
    ys.back() = w.dim(0);
    Tensor y = out(ctx, ys);
    if (y.numel() == 0) return y;
    View xv = view_of(x);
    xv.shape = {m, x.dim(-1)};
    xv.strides = {row_stride, 1};
    View yv = view_of(y);
    yv.shape = {m, w.dim(0)};
    yv.strides = {w.dim(0), 1};
    ctx.be().linear(xv, view_of(w), view_of(bias), ctx.compute_dtype, yv);
    return y;
}

Tensor matmul(Ctx& ctx, const Tensor& a_, const Tensor& b_, bool trans_a, bool trans_b, float alpha) {
    check_compute("matmul", ctx);
    Tensor a = act_f32("matmul", "a", a_);
    Tensor b = act_f32("matmul", "b", b_);
    SDPP_CHECK(a.ndim() >= 2 && b.ndim() >= 2, "[matmul] a ", a.shape_str(), " and b ", b.shape_str(),
               " need at least 2 dims");
    if (trans_a) a = a.transpose(-1, -2);
    if (trans_b) b = b.transpose(-1, -2);
    int64_t m = a.dim(-2), k = a.dim(-1), n = b.dim(-1);
    SDPP_CHECK(b.dim(-2) == k, "[matmul] a ", a_.shape_str(), (trans_a ? "^T" : ""), " and b ", b_.shape_str(),
               (trans_b ? "^T" : ""), ": inner dims ", k, " and ", b.dim(-2), " differ");
    Shape ba(a.shape().begin(), a.shape().end() - 2), bb(b.shape().begin(), b.shape().end() - 2);
    Shape batch = broadcast_shapes("matmul", ba, bb);
    Shape sa = batch, sb = batch, ys = batch;
    sa.insert(sa.end(), {m, k});
    sb.insert(sb.end(), {k, n});
    ys.insert(ys.end(), {m, n});
    a = a.expand(sa);
    b = b.expand(sb);
    Tensor y = out(ctx, ys);
    if (y.numel() == 0) return y;
    int nb = int(batch.size());
    int64_t bsz = numel_of(batch);
    auto to3 = [&](Tensor& t, int64_t r, int64_t c) {
        int64_t size, st;
        if (!collapse(t.shape(), t.strides(), nb, size, st)) {
            t = contiguous(ctx, t);
            st = r * c;
        }
        View v = view_of(t);
        v.shape = {bsz, r, c};
        v.strides = {bsz == 1 ? 0 : st, t.stride(-2), t.stride(-1)};
        return v;
    };
    View av = to3(a, m, k), bv = to3(b, k, n);
    View yv = view_of(y);
    yv.shape = {bsz, m, n};
    yv.strides = {m * n, n, 1};
    if (k == 0) {
        std::fill_n(y.data<float>(), y.numel(), 0.0f);
        return y;
    }
    ctx.be().matmul(av, bv, alpha, ctx.compute_dtype, yv);
    return y;
}

// ---- normalisation ----------------------------------------------------------------------------

Tensor group_norm(Ctx& ctx, const Tensor& x_, int groups, const Tensor& gamma_, const Tensor& beta_, float eps,
                  bool fuse_silu) {
    Tensor x = act_contig(ctx, "group_norm", "input", x_);
    SDPP_CHECK(x.ndim() >= 2, "[group_norm] input ", x.shape_str(), " must be [N, C, *]");
    int64_t c = x.dim(1);
    SDPP_CHECK(groups >= 1 && c % groups == 0, "[group_norm] ", c, " channels of ", x.shape_str(),
               " do not split into ", groups, " groups");
    Tensor gamma = param("group_norm", "weight", gamma_, c), beta = param("group_norm", "bias", beta_, c);
    Tensor y = out(ctx, x.shape());
    if (y.numel() == 0) return y;
    View xv = view_of(x), yv = view_of(y);
    int64_t s = x.numel() / (x.dim(0) * c);
    xv.shape = yv.shape = {x.dim(0), c, s};
    xv.strides = yv.strides = {c * s, s, 1};
    ctx.be().group_norm(xv, groups, view_of(gamma), view_of(beta), eps, fuse_silu, yv);
    return y;
}

Tensor group_norm_stats(Ctx& ctx, const Tensor& x_, int groups, float eps) {
    Tensor x = act_contig(ctx, "group_norm_stats", "input", x_);
    SDPP_CHECK(x.ndim() >= 2, "[group_norm_stats] input ", x.shape_str(), " must be [N, C, *]");
    const int64_t c = x.dim(1);
    SDPP_CHECK(groups >= 1 && c % groups == 0, "[group_norm_stats] ", c, " channels of ", x.shape_str(),
               " do not split into ", groups, " groups");
    const int64_t s = x.numel() / std::max<int64_t>(1, x.dim(0) * c);
    SDPP_CHECK(s > 0, "[group_norm_stats] empty input ", x.shape_str());
    Tensor st = out(ctx, {x.dim(0), groups, 2});
    View xv = view_of(x);
    xv.shape = {x.dim(0), c, s};
    xv.strides = {c * s, s, 1};
    ctx.be().group_norm_stats(xv, groups, eps, view_of(st));
    return st;
}

Tensor group_norm_apply(Ctx& ctx, const Tensor& x_, const Tensor& stats, const Tensor& gamma_, const Tensor& beta_,
                        bool fuse_silu) {
    Tensor x = act_f32("group_norm_apply", "input", x_);
    SDPP_CHECK(x.ndim() >= 2, "[group_norm_apply] input ", x.shape_str(), " must be [N, C, *]");
    const int64_t n = x.dim(0), c = x.dim(1);
    SDPP_CHECK(stats.defined() && stats.dtype() == DType::F32 && stats.is_contiguous() && stats.ndim() == 3 &&
                   stats.dim(0) == n && stats.dim(2) == 2 && stats.dim(1) >= 1 && c % stats.dim(1) == 0,
               "[group_norm_apply] stats ", stats.defined() ? stats.shape_str() : "(none)", " do not fit input ",
               x.shape_str(), " (expected [N, groups, 2] f32 from group_norm_stats)");
    Tensor gamma = param("group_norm_apply", "weight", gamma_, c), beta = param("group_norm_apply", "bias", beta_, c);
    Tensor y = out(ctx, x.shape());
    if (y.numel() == 0) return y;
    // The dims past C must form one unit-stride run (a slice of rows of an NCHW map does); the
    // batch and channel strides stay free, so such a slice is read in place.
    Shape tail(x.shape().begin() + 2, x.shape().end());
    std::vector<int64_t> tail_st(x.strides().begin() + 2, x.strides().end());
    int64_t s = 1, ss = 1;
    if (!collapse(tail, tail_st, int(tail.size()), s, ss) || (ss != 1 && s > 1)) x = contiguous(ctx, x);
    s = y.numel() / (n * c);
    View xv = view_of(x), yv = view_of(y);
    xv.shape = yv.shape = {n, c, s};
    xv.strides = {x.stride(0), x.stride(1), 1};
    yv.strides = {c * s, s, 1};
    ctx.be().group_norm_apply(xv, view_of(stats), view_of(gamma), view_of(beta), fuse_silu, yv);
    return y;
}

namespace {
// x [..., C] contiguous as a [R, C] view.
View rows_view(const Tensor& x) {
    View v = view_of(x);
    int64_t c = x.dim(-1);
    v.shape = {c ? x.numel() / c : 0, c};
    v.strides = {c, 1};
    return v;
}
}  // namespace

Tensor layer_norm(Ctx& ctx, const Tensor& x_, const Tensor& gamma_, const Tensor& beta_, float eps) {
    Tensor x = act_contig(ctx, "layer_norm", "input", x_);
    SDPP_CHECK(x.ndim() >= 1, "[layer_norm] input must have at least 1 dim");
    Tensor gamma = param("layer_norm", "weight", gamma_, x.dim(-1));
    Tensor beta = param("layer_norm", "bias", beta_, x.dim(-1));
    Tensor y = out(ctx, x.shape());
    if (y.numel() == 0) return y;
    ctx.be().layer_norm(rows_view(x), view_of(gamma), view_of(beta), eps, rows_view(y));
    return y;
}

Tensor softmax(Ctx& ctx, const Tensor& x_) {
    Tensor x = act_contig(ctx, "softmax", "input", x_);
    SDPP_CHECK(x.ndim() >= 1, "[softmax] input must have at least 1 dim");
    Tensor y = out(ctx, x.shape());
    if (y.numel() == 0) return y;
    ctx.be().softmax(rows_view(x), rows_view(y));
    return y;
}

// ---- attention --------------------------------------------------------------------------------

Tensor attention(Ctx& ctx, const Tensor& q_, const Tensor& k_, const Tensor& v_, int n_heads, bool causal,
                 float scale) {
    check_compute("attention", ctx);
    Tensor q = act_f32("attention", "q", q_), k = act_f32("attention", "k", k_), v = act_f32("attention", "v", v_);
    SDPP_CHECK(q.ndim() == 3 && k.ndim() == 3 && v.ndim() == 3, "[attention] q ", q.shape_str(), ", k ",
               k.shape_str(), ", v ", v.shape_str(), " must be [B, S, H*D]");
    SDPP_CHECK(k.shape() == v.shape(), "[attention] k ", k.shape_str(), " and v ", v.shape_str(), " differ");
    SDPP_CHECK(q.dim(0) == k.dim(0) && q.dim(2) == k.dim(2), "[attention] q ", q.shape_str(), " and k ",
               k.shape_str(), " differ in batch or width");
    SDPP_CHECK(n_heads >= 1 && q.dim(2) % n_heads == 0, "[attention] width ", q.dim(2), " of q ", q.shape_str(),
               " does not split into ", n_heads, " heads");
    SDPP_CHECK(k.dim(1) >= 1 || q.dim(1) == 0, "[attention] no keys: k ", k.shape_str());
    int64_t d = q.dim(2) / n_heads;
    SDPP_CHECK(d >= 1 && scale >= 0 && std::isfinite(scale), "[attention] bad head size ", d, " or scale ", scale);
    if (scale == 0) scale = 1.0f / std::sqrt(float(d));
    for (Tensor* t : {&q, &k, &v})
        if (t->stride(2) != 1) *t = contiguous(ctx, *t);
    Tensor y = out(ctx, q.shape());
    if (y.numel() == 0) return y;
    ctx.be().attention(view_of(q), view_of(k), view_of(v), n_heads, causal, scale, ctx.compute_dtype, view_of(y));
    return y;
}

// ---- activations ------------------------------------------------------------------------------

namespace {
Tensor unary_op(Ctx& ctx, const char* name, Unary op, const Tensor& x_) {
    Tensor x = act_contig(ctx, name, "input", x_);
    Tensor y = out(ctx, x.shape());
    if (y.numel() == 0) return y;
    ctx.be().unary(op, view_of(x), view_of(y));
    return y;
}
}  // namespace

Tensor silu(Ctx& ctx, const Tensor& x) { return unary_op(ctx, "silu", Unary::SiLU, x); }
Tensor gelu(Ctx& ctx, const Tensor& x, bool tanh_approx) {
    return unary_op(ctx, "gelu", tanh_approx ? Unary::GeluTanh : Unary::GeluErf, x);
}
Tensor quick_gelu(Ctx& ctx, const Tensor& x) { return unary_op(ctx, "quick_gelu", Unary::QuickGelu, x); }
Tensor relu(Ctx& ctx, const Tensor& x) { return unary_op(ctx, "relu", Unary::ReLU, x); }
Tensor tanh_act(Ctx& ctx, const Tensor& x) { return unary_op(ctx, "tanh", Unary::Tanh, x); }

Tensor geglu(Ctx& ctx, const Tensor& x_) {
    Tensor x = act_contig(ctx, "geglu", "input", x_);
    SDPP_CHECK(x.ndim() >= 1 && x.dim(-1) % 2 == 0, "[geglu] last dim of ", x.shape_str(), " must be even");
    Shape ys = x.shape();
    ys.back() /= 2;
    Tensor y = out(ctx, ys);
    if (y.numel() == 0) return y;
    ctx.be().geglu(rows_view(x), rows_view(y));
    return y;
}

// ---- elementwise ------------------------------------------------------------------------------

namespace {
Tensor binary_op(Ctx& ctx, const char* name, Binary op, const Tensor& a_, const Tensor& b_) {
    Tensor a = act_f32(name, "a", a_), b = act_f32(name, "b", b_);
    Shape ys = broadcast_shapes(name, a.shape(), b.shape());
    Tensor y = out(ctx, ys);
    if (y.numel() == 0) return y;
    ctx.be().binary(op, view_of(a.expand(ys)), view_of(b.expand(ys)), view_of(y));
    return y;
}
}  // namespace

Tensor add(Ctx& ctx, const Tensor& a, const Tensor& b) { return binary_op(ctx, "add", Binary::Add, a, b); }
void add_into(Ctx& ctx, const Tensor& y, const Tensor& a_) {
    SDPP_CHECK(y.defined() && y.dtype() == DType::F32, "[add_into] destination must be a defined f32 tensor");
    for (int d = 0; d < y.ndim(); ++d)
        SDPP_CHECK(y.dim(d) == 1 || y.stride(d) != 0, "[add_into] destination ", y.shape_str(), " is a broadcast view");
    Tensor a = act_f32("add_into", "a", a_);
    SDPP_CHECK(broadcast_shapes("add_into", y.shape(), a.shape()) == y.shape(), "[add_into] ", a.shape_str(),
               " does not broadcast to the destination ", y.shape_str());
    if (y.numel() > 0) ctx.be().binary(Binary::Add, view_of(y), view_of(a.expand(y.shape())), view_of(y));
}
Tensor sub(Ctx& ctx, const Tensor& a, const Tensor& b) { return binary_op(ctx, "sub", Binary::Sub, a, b); }
Tensor mul(Ctx& ctx, const Tensor& a, const Tensor& b) { return binary_op(ctx, "mul", Binary::Mul, a, b); }

Tensor scale(Ctx& ctx, const Tensor& x_, float a, float b) {
    Tensor x = act_contig(ctx, "scale", "input", x_);
    Tensor y = out(ctx, x.shape());
    if (y.numel() == 0) return y;
    ctx.be().scale(view_of(x), a, b, view_of(y));
    return y;
}

// ---- shape ------------------------------------------------------------------------------------

Tensor contiguous(Ctx& ctx, const Tensor& x) {
    if (!x.defined() || x.is_contiguous() || x.dtype() != DType::F32) return x.contiguous();
    Tensor y = out(ctx, x.shape());
    if (y.numel() > 0) ctx.be().copy(view_of(x), view_of(y));
    return y;
}

void copy_into(Ctx& ctx, const Tensor& dst, const Tensor& src_) {
    SDPP_CHECK(dst.defined() && dst.dtype() == DType::F32, "[copy_into] destination must be a defined f32 tensor");
    Tensor src = act_f32("copy_into", "source", src_);
    SDPP_CHECK(src.shape() == dst.shape(), "[copy_into] source ", src.shape_str(), " does not match destination ",
               dst.shape_str());
    for (int d = 0; d < dst.ndim(); ++d)
        SDPP_CHECK(dst.dim(d) == 1 || dst.stride(d) != 0, "[copy_into] destination ", dst.shape_str(),
                   " is a broadcast view");
    if (dst.numel() > 0) ctx.be().copy(view_of(src), view_of(dst));
}

Tensor concat(Ctx& ctx, std::span<const Tensor> xs_, int dim) {
    SDPP_CHECK(!xs_.empty(), "[concat] no inputs");
    std::vector<Tensor> xs;
    for (const Tensor& t : xs_) xs.push_back(act_f32("concat", "input", t));
    int n = xs[0].ndim();
    SDPP_CHECK(n >= 1, "[concat] inputs must have at least 1 dim");
    dim = norm_dim("concat", dim, n, xs[0]);
    Shape ys = xs[0].shape();
    ys[dim] = 0;
    for (const Tensor& t : xs) {
        bool ok = t.ndim() == n;
        for (int i = 0; ok && i < n; ++i) ok = i == dim || t.dim(i) == xs[0].dim(i);
        SDPP_CHECK(ok, "[concat] input ", t.shape_str(), " does not match ", xs[0].shape_str(), " outside dim ", dim);
        ys[dim] += t.dim(dim);
    }
    Tensor y = out(ctx, ys);
    if (y.numel() == 0) return y;
    std::vector<View> vs;
    for (const Tensor& t : xs)
        if (t.numel() > 0) vs.push_back(view_of(t));
    ctx.be().concat(vs, dim, view_of(y));
    return y;
}

Tensor upsample_nearest2x(Ctx& ctx, const Tensor& x_) {
    Tensor x = act_contig(ctx, "upsample_nearest2x", "input", x_);
    SDPP_CHECK(x.ndim() == 4, "[upsample_nearest2x] input ", x.shape_str(), " must be [N, C, H, W]");
    Tensor y = out(ctx, {x.dim(0), x.dim(1), 2 * x.dim(2), 2 * x.dim(3)});
    if (y.numel() == 0) return y;
    ctx.be().upsample_nearest2x(view_of(x), view_of(y));
    return y;
}

Tensor resize_bilinear(Ctx& ctx, const Tensor& x_, int64_t out_h, int64_t out_w, bool align_corners) {
    Tensor x = act_contig(ctx, "resize_bilinear", "input", x_);
    SDPP_CHECK(x.ndim() == 4, "[resize_bilinear] input ", x.shape_str(), " must be [N, C, H, W]");
    SDPP_CHECK(out_h >= 1 && out_w >= 1, "[resize_bilinear] bad output size ", out_h, "x", out_w);
    SDPP_CHECK(x.dim(2) >= 1 && x.dim(3) >= 1, "[resize_bilinear] empty input ", x.shape_str());
    Tensor y = out(ctx, {x.dim(0), x.dim(1), out_h, out_w});
    if (y.numel() == 0) return y;
    ctx.be().resize_bilinear(view_of(x), align_corners, view_of(y));
    return y;
}

// ---- reductions -------------------------------------------------------------------------------

namespace {
Tensor reduce_op(Ctx& ctx, const char* name, Reduce op, const Tensor& x_, int dim, bool keepdim, bool unbiased) {
    Tensor x = act_contig(ctx, name, "input", x_);
    SDPP_CHECK(x.ndim() >= 1, "[", name, "] input must have at least 1 dim");
    dim = norm_dim(name, dim, x.ndim(), x);
    int64_t n = x.dim(dim);
    SDPP_CHECK(n >= 1, "[", name, "] reducing empty dim ", dim, " of ", x.shape_str());
    int64_t outer = 1, inner = 1;
    for (int i = 0; i < dim; ++i) outer *= x.dim(i);
    for (int i = dim + 1; i < x.ndim(); ++i) inner *= x.dim(i);
    Shape ys = x.shape();
    if (keepdim)
        ys[dim] = 1;
    else
        ys.erase(ys.begin() + dim);
    Tensor y = out(ctx, ys);
    if (y.numel() == 0) return y;
    View xv = view_of(x), yv = view_of(y);
    xv.shape = {outer, n, inner};
    xv.strides = {n * inner, inner, 1};
    yv.shape = {outer, inner};
    yv.strides = {inner, 1};
    ctx.be().reduce(op, xv, unbiased, yv);
    return y;
}
}  // namespace

Tensor mean(Ctx& ctx, const Tensor& x, int dim, bool keepdim) {
    return reduce_op(ctx, "mean", Reduce::Mean, x, dim, keepdim, false);
}
Tensor std_dev(Ctx& ctx, const Tensor& x, int dim, bool keepdim, bool unbiased) {
    return reduce_op(ctx, "std_dev", Reduce::Std, x, dim, keepdim, unbiased);
}

// ---- weight preparation -----------------------------------------------------------------------

void prepare_conv2d_weight(Ctx& ctx, const Tensor& w_, int64_t in_h, int64_t in_w, int stride, int padding) {
    Tensor w = weight("prepare_conv2d_weight", w_);
    SDPP_CHECK(w.ndim() == 4, "[prepare_conv2d_weight] weight ", w.shape_str(), " must be [Cout, Cin, kh, kw]");
    if (padding < 0) padding = int(w.dim(2) / 2);
    SDPP_CHECK(stride >= 1 && in_h + 2 * padding >= w.dim(2) && in_w + 2 * padding >= w.dim(3),
               "[prepare_conv2d_weight] input ", in_h, "x", in_w, " too small for weight ", w.shape_str());
    const int64_t conv[4] = {in_h, in_w, stride, padding};
    ctx.be().prepare_weight(view_of(w), WeightUse::Conv2d, ctx.compute_dtype, conv);
}

void prepare_linear_weight(Ctx& ctx, const Tensor& w_) {
    Tensor w = weight("prepare_linear_weight", w_);
    SDPP_CHECK(w.ndim() == 2, "[prepare_linear_weight] weight ", w.shape_str(), " must be [out, in]");
    ctx.be().prepare_weight(view_of(w), WeightUse::Linear, ctx.compute_dtype);
}

void release_prepared_weights(Ctx& ctx) { ctx.be().release_prepared_weights(); }
size_t prepared_weight_bytes(Ctx& ctx) { return ctx.be().prepared_weight_bytes(); }
void set_prepared_weight_limit(Ctx& ctx, size_t bytes) { ctx.be().set_prepared_weight_limit(bytes); }

}  // namespace sdpp
