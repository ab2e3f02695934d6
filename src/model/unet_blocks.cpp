// U-Net blocks: ldm.modules.diffusionmodules.openaimodel.ResBlock / Downsample / Upsample and
// ldm.modules.attention.SpatialTransformer / BasicTransformerBlock / CrossAttention (see unet_blocks.h).
#include "model/unet_blocks.h"
#include "core/assert.h"

#include "core/error.h"

#include <cstring>

namespace sdpp {

Tensor stack_rows(const std::vector<Tensor>& in) {
    SDPP_ASSERT(!in.empty(), "stack_rows: nothing to stack");
    // Mixed dtypes (a LoRA merged into q only: f32 beside the file's f16 k, v) stack in f32.
    std::vector<Tensor> ms = in;
    for (const Tensor& m : in)
        if (m.dtype() != in[0].dtype()) {
            for (Tensor& t : ms) t = t.to(DType::F32);
            break;
        }
    Shape shape = ms[0].shape();
    shape[0] = 0;
    for (auto& m : ms) {
        Shape s = m.shape();
        s[0] = shape[0];
        SDPP_ASSERT(s == shape && m.dtype() == ms[0].dtype(), "stack_rows: ", m.shape_str(), " does not stack with ", ms[0].shape_str());
        shape[0] += m.dim(0);
    }
    Tensor out = Tensor::empty(shape, ms[0].dtype());
    int64_t r = 0;
    for (auto& m : ms) {
        out.slice(0, r, r + m.dim(0)).copy_from(m);  // a row range of a contiguous tensor is contiguous
        r += m.dim(0);
    }
    return out;
}

namespace {

// A 1x1 conv [out, in, 1, 1] or a linear [out, in] weight, as a Linear (-1 = any size).
Linear load_projection(const WeightScope& w, int64_t in, int64_t out) {
    auto shape = w.shape_of("weight");
    if (!shape) throw error("missing weight '", w.key("weight"), "'");
    if (shape->size() != 4) return Linear::load(w, in, out);
    Linear l;
    Tensor k = w.matrix("weight", {out, in, 1, 1});
    l.weight = k.view({k.dim(0), k.dim(1)});
    l.bias = w.get("bias", {l.weight.dim(0)});
    return l;
}

}  // namespace

// ---- ResBlock ---------------------------------------------------------------------------------

ResBlock ResBlock::load(const WeightScope& w, int64_t cin, int64_t cout, int64_t emb_dim) {
    ResBlock r;
    r.in_norm = GroupNorm::load(w.sub("in_layers.0"), 32, 1e-5f, cin);
    r.in_conv = Conv2d::load(w.sub("in_layers.2"), {cout, cin, 3, 3});
    r.emb_proj = Linear::load(w.sub("emb_layers.1"), emb_dim, cout);
    r.out_norm = GroupNorm::load(w.sub("out_layers.0"), 32, 1e-5f, cout);
    r.out_conv = Conv2d::load(w.sub("out_layers.3"), {cout, cout, 3, 3});
    if (cin != cout) r.skip = Conv2d::load(w.sub("skip_connection"), {cout, cin, 1, 1});  // else Identity
    return r;
}

Tensor ResBlock::forward(Ctx& ctx, const Tensor& x, const Tensor& emb_act) const {
    Tensor h = in_conv(ctx, in_norm(ctx, x, /*fuse_silu=*/true));     // [N, Cout, H, W]
    Tensor e = emb_proj(ctx, emb_act);                                // [N, Cout]
    h = add(ctx, h, e.view({e.dim(0), e.dim(1), 1, 1}));
    h = out_conv(ctx, out_norm(ctx, h, /*fuse_silu=*/true));           // dropout: identity at inference
    return add(ctx, skip ? (*skip)(ctx, x) : x, h);                   // [N, Cout, H, W]
}

// ---- Attention ---------------------------------------------------------------------------------

Attention Attention::load(const WeightScope& w, int n_heads, bool self_attn) {
    Attention a;
    a.n_heads = n_heads;
    a.self_attn = self_attn;
    Tensor wq = w.matrix("to_q.weight", {-1, -1});
    const int64_t inner = wq.dim(0);
    Tensor wk = w.matrix("to_k.weight", {inner, self_attn ? wq.dim(1) : -1});  // self: keys from x too
    Tensor wv = w.matrix("to_v.weight", {inner, wk.dim(1)});
    a.q.weight = wq;  // [inner, C]
    a.k.weight = wk;  // [inner, C or Cctx]
    a.v.weight = wv;
    a.out = Linear::load(w.sub("to_out.0"), inner, wq.dim(1));
    if (inner % n_heads != 0)
        throw error("attention '", w.prefix(), "': ", inner, " channels do not split into ", n_heads, " heads");
    return a;
}

Tensor Attention::forward(Ctx& ctx, const Tensor& x, const Tensor& context) const {
    Tensor qs = q(ctx, x);                                                // [B, S, inner]
    Tensor o;
    if (self_attn) {
        o = attention(ctx, qs, k(ctx, x), v(ctx, x), n_heads);           // [B, S, inner]
    } else {
        const auto [ks, vs] = context_keys_values(ctx, context);          // [B, Sk, inner] each
        o = attention(ctx, qs, ks, vs, n_heads);
    }
    return out(ctx, o);                                                   // [B, S, C]
}

std::pair<Tensor, Tensor> Attention::context_keys_values(Ctx& ctx, const Tensor& context) const {
    const Tensor c = context.contiguous();
    const auto* bytes = static_cast<const std::byte*>(c.raw());
    ContextKV& cache = *context_kv;
    std::lock_guard lk(cache.mu);
    if (cache.k.defined() && cache.shape == c.shape() && cache.compute == ctx.compute_dtype &&
        cache.context.size() == c.nbytes() && std::memcmp(cache.context.data(), bytes, c.nbytes()) == 0)
        return {cache.k, cache.v};
    cache.k = k(ctx, c);
    cache.v = v(ctx, c);
    cache.context.assign(bytes, bytes + c.nbytes());
    cache.shape = c.shape();
    cache.compute = ctx.compute_dtype;
    return {cache.k, cache.v};
}

// ---- TransformerBlock --------------------------------------------------------------------------

TransformerBlock TransformerBlock::load(const WeightScope& w, int n_heads) {
    TransformerBlock b;
    b.norm1 = LayerNorm::load(w.sub("norm1"), 1e-5f);
    b.attn1 = Attention::load(w.sub("attn1"), n_heads, /*self_attn=*/true);
    b.norm2 = LayerNorm::load(w.sub("norm2"), 1e-5f);
    b.attn2 = Attention::load(w.sub("attn2"), n_heads, /*self_attn=*/false);
    b.norm3 = LayerNorm::load(w.sub("norm3"), 1e-5f);
    const int64_t c = b.norm1.weight.dim(0);
    b.ff_in = Linear::load(w.sub("ff.net.0.proj"), c);
    if (b.ff_in.out_features() % 2 != 0)
        throw error("weight '", w.key("ff.net.0.proj.weight"), "' has an odd row count (GEGLU needs 2F)");
    b.ff_out = Linear::load(w.sub("ff.net.2"), b.ff_in.out_features() / 2, c);
    return b;
}

Tensor TransformerBlock::forward(Ctx& ctx, const Tensor& x, const Tensor& context) const {
    Tensor h = add(ctx, x, attn1.forward(ctx, norm1(ctx, x), Tensor()));    // [B, S, C]
    h = add(ctx, h, attn2.forward(ctx, norm2(ctx, h), context));
    return feed_forward(ctx, h);
}

// The GEGLU input [rows, 2F] is the U-Net's largest activation (84 MB for SD 1.5 at a 64x64
// latent, batch 2); every op here is row-wise, so chunks of rows give the same result with a
// quarter of that alive at once (issue 8's memory budget).
Tensor TransformerBlock::feed_forward(Ctx& ctx, const Tensor& h_) const {
    constexpr int64_t kRows = 2048;
    Tensor h = h_.contiguous();
    const int64_t c = h.dim(-1), rows = h.numel() / c;
    if (rows <= kRows) return add(ctx, h, ff_out(ctx, geglu(ctx, ff_in(ctx, norm3(ctx, h)))));
    Tensor flat = h.view({rows, c});
    Tensor y = Tensor::empty({rows, c});
    for (int64_t r = 0; r < rows; r += kRows) {
        Tensor part = flat.slice(0, r, std::min(rows, r + kRows));                    // [r, C]
        Tensor f = geglu(ctx, ff_in(ctx, norm3(ctx, part)));                         // [r, F]
        y.slice(0, r, std::min(rows, r + kRows)).copy_from(add(ctx, part, ff_out(ctx, f)));
    }
    return y.view(h.shape());
}

// ---- SpatialTransformer ------------------------------------------------------------------------

SpatialTransformer SpatialTransformer::load(const WeightScope& w, int depth, int n_heads) {
    SpatialTransformer s;
    s.norm = GroupNorm::load(w.sub("norm"), 32, 1e-6f);
    const int64_t c = s.norm.weight.dim(0);
    s.proj_in = load_projection(w.sub("proj_in"), c, -1);
    for (int i = 0; i < depth; ++i) s.blocks.push_back(TransformerBlock::load(w.sub("transformer_blocks").sub(i), n_heads));
    s.proj_out = load_projection(w.sub("proj_out"), s.proj_in.out_features(), c);
    return s;
}

Tensor SpatialTransformer::forward(Ctx& ctx, const Tensor& x, const Tensor& context) const {
    const int64_t n = x.dim(0), c = x.dim(1), hh = x.dim(2), ww = x.dim(3);
    Tensor h = norm(ctx, x);                                                // [N, C, H, W]
    h = proj_in(ctx, h.view({n, c, hh * ww}).transpose(1, 2));              // [N, HW, inner]
    for (auto& b : blocks) h = b.forward(ctx, h, context);
    h = proj_out(ctx, h);                                                   // [N, HW, C]
    return add(ctx, x, h.view({n, hh, ww, c}).permute({0, 3, 1, 2}));       // [N, C, H, W]
}

// ---- UNetBlock ---------------------------------------------------------------------------------

Tensor UNetBlock::forward(Ctx& ctx, Tensor x, const Tensor& emb_act, const Tensor& context,
                          const Shape& up_size) const {
    if (down) return (*down)(ctx, x);                                       // [N, C, ceil(H/2), ceil(W/2)]
    Tensor h = res ? res->forward(ctx, x, emb_act) : x;
    x = Tensor();  // the input (an output block's skip concatenation) is dead: free it before attention
    if (attn) h = attn->forward(ctx, h, context);
    if (up) {
        const int64_t th = up_size.size() == 2 ? up_size[0] : 2 * h.dim(2);
        const int64_t tw = up_size.size() == 2 ? up_size[1] : 2 * h.dim(3);
        // Nearest resize of an S-sized map to 2S or 2S-1 picks source index floor(i * S / T) == floor(i / 2):
        // the 2x upsample cropped to the target (diffusers passes the skip's size to F.interpolate).
        SDPP_CHECK(th <= 2 * h.dim(2) && th >= 2 * h.dim(2) - 1 && tw <= 2 * h.dim(3) && tw >= 2 * h.dim(3) - 1,
                   "[unet] cannot upsample ", h.shape_str(), " to ", th, "x", tw);
        h = upsample_nearest2x(ctx, h);                                     // [N, C, 2H, 2W]
        if (h.dim(2) != th || h.dim(3) != tw) h = h.slice(2, 0, th).slice(3, 0, tw);
        h = (*up)(ctx, h);                                                  // [N, C, th, tw]
    }
    return h;
}

}  // namespace sdpp
