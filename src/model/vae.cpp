// AutoencoderKL: detection, binding, encoder and decoder forward (see vae.h).
// ldm.modules.diffusionmodules.model: ResnetBlock, AttnBlock, Downsample (asymmetric pad), Upsample,
// Encoder, Decoder; ldm.models.autoencoder.AutoencoderKL (quant_conv / post_quant_conv).
#include "model/vae.h"

#include "core/error.h"
#include "model/unet_blocks.h"  // stack_rows

#include <algorithm>
#include <cmath>
#include <cstring>
#include <sstream>

namespace sdpp {

namespace {

const char* kPrefix = "first_stage_model.";

// F.pad(x, (0, 1, 0, 1)): one zero row at the bottom and one zero column at the right.
Tensor pad_right_bottom(const Tensor& x_in) {
    Tensor x = x_in.contiguous();
    const int64_t nc = x.dim(0) * x.dim(1), h = x.dim(2), w = x.dim(3);
    Tensor out = Tensor::empty({x.dim(0), x.dim(1), h + 1, w + 1});
    const float* src = x.data<float>();
    float* dst = out.data<float>();
#pragma omp parallel for schedule(static) if (nc * h * w > (1 << 16))
    for (int64_t p = 0; p < nc; ++p) {
        for (int64_t y = 0; y < h; ++y) {
            std::memcpy(dst + (p * (h + 1) + y) * (w + 1), src + (p * h + y) * w, size_t(w) * sizeof(float));
            dst[(p * (h + 1) + y) * (w + 1) + w] = 0.0f;
        }
        std::fill_n(dst + (p * (h + 1) + h) * (w + 1), w + 1, 0.0f);
    }
    return out;
}

}  // namespace

// ---- blocks ------------------------------------------------------------------------------------

VAEResBlock VAEResBlock::load(const WeightScope& w, int64_t cin, int64_t cout) {
    VAEResBlock r;
    r.norm1 = GroupNorm::load(w.sub("norm1"), 32, 1e-6f, cin);
    r.conv1 = Conv2d::load(w.sub("conv1"), {cout, cin, 3, 3});
    r.norm2 = GroupNorm::load(w.sub("norm2"), 32, 1e-6f, cout);
    r.conv2 = Conv2d::load(w.sub("conv2"), {cout, cout, 3, 3});
    if (cin != cout) r.nin_shortcut = Conv2d::load(w.sub("nin_shortcut"), {cout, cin, 1, 1});  // else Identity
    return r;
}

Tensor VAEResBlock::forward(Ctx& ctx, const Tensor& x) const {
    Tensor h = conv1(ctx, norm1(ctx, x, /*fuse_silu=*/true));  // [N, Cout, H, W]
    h = conv2(ctx, norm2(ctx, h, /*fuse_silu=*/true));          // dropout: identity at inference
    return add(ctx, nin_shortcut ? (*nin_shortcut)(ctx, x) : x, h);
}

VAEAttention VAEAttention::load(const WeightScope& w) {
    VAEAttention a;
    a.norm = GroupNorm::load(w.sub("norm"), 32, 1e-6f);
    const int64_t c = a.norm.weight.dim(0);
    // 1x1 convs [C, C, 1, 1] (LDM) applied as the linears they are on the [N, H*W, C] view.
    auto mat = [&](const char* n) {
        return w.sub(n).matrix("weight", {c, c, 1, 1}).view({c, c});
    };
    auto vec = [&](const char* n) { return w.sub(n).get("bias", {c}); };
    a.qkv.weight = stack_rows({mat("q"), mat("k"), mat("v")});  // [3C, C]
    a.qkv.bias = stack_rows({vec("q"), vec("k"), vec("v")});    // [3C]
    a.proj_out.weight = mat("proj_out");
    a.proj_out.bias = vec("proj_out");
    return a;
}

Tensor VAEAttention::forward(Ctx& ctx, const Tensor& x) const {
    const int64_t n = x.dim(0), c = x.dim(1), hh = x.dim(2), ww = x.dim(3);
    Tensor h = norm(ctx, x);                                               // [N, C, H, W]
    Tensor p = qkv(ctx, h.view({n, c, hh * ww}).transpose(1, 2));          // [N, HW, 3C]
    h = Tensor();
    Tensor o = attention(ctx, p.slice(2, 0, c), p.slice(2, c, 2 * c), p.slice(2, 2 * c, 3 * c), 1);  // [N, HW, C]
    p = Tensor();
    o = proj_out(ctx, o);                                                  // [N, HW, C]
    return add(ctx, x, o.view({n, hh, ww, c}).permute({0, 3, 1, 2}));      // [N, C, H, W]
}

VAEMid VAEMid::load(const WeightScope& w, int64_t channels, bool attention) {
    VAEMid m;
    m.block_1 = VAEResBlock::load(w.sub("block_1"), channels, channels);
    if (attention) m.attn_1 = VAEAttention::load(w.sub("attn_1"));
    m.block_2 = VAEResBlock::load(w.sub("block_2"), channels, channels);
    return m;
}

Tensor VAEMid::forward(Ctx& ctx, const Tensor& x) const {
    Tensor h = block_1.forward(ctx, x);
    if (attn_1) h = attn_1->forward(ctx, h);
    return block_2.forward(ctx, h);
}

// ---- encoder / decoder -------------------------------------------------------------------------

VAEEncoder VAEEncoder::load(const WeightScope& w, const VAEConfig& cfg) {
    VAEEncoder e;
    int64_t ch = cfg.level_channels[0];  // conv_in's width (ch * ch_mult[0], which is 1 in every SD VAE)
    e.conv_in = Conv2d::load(w.sub("conv_in"), {ch, cfg.in_channels, 3, 3});
    for (int i = 0; i < cfg.levels(); ++i) {
        WeightScope d = w.sub("down").sub(i);
        const int64_t c = cfg.level_channels[size_t(i)];
        Level lv;
        for (int j = 0; j < cfg.num_res_blocks; ++j, ch = c) lv.blocks.push_back(VAEResBlock::load(d.sub("block").sub(j), ch, c));
        if (i + 1 < cfg.levels())
            lv.downsample = Conv2d::load(d.sub("downsample.conv"), {c, c, 3, 3}, /*stride=*/2, /*padding=*/0);
        e.down.push_back(std::move(lv));
    }
    e.mid = VAEMid::load(w.sub("mid"), ch, cfg.mid_attention);
    e.norm_out = GroupNorm::load(w.sub("norm_out"), 32, 1e-6f, ch);
    e.conv_out = Conv2d::load(w.sub("conv_out"), {2 * cfg.z_channels, ch, 3, 3});
    return e;
}

Tensor VAEEncoder::forward_down(Ctx& ctx, const Tensor& image) const {
    Tensor h = conv_in(ctx, image);  // [N, ch, H, W]
    for (auto& lv : down) {
        for (auto& b : lv.blocks) h = b.forward(ctx, h);
        if (lv.downsample) h = (*lv.downsample)(ctx, pad_right_bottom(h));  // [N, C, H/2, W/2]
    }
    return h;
}

Tensor VAEEncoder::forward_mid(Ctx& ctx, const Tensor& x) const {
    Tensor h = mid.forward(ctx, x);
    return conv_out(ctx, norm_out(ctx, h, /*fuse_silu=*/true));  // [N, 2z, h, w]
}

Tensor VAEEncoder::forward(Ctx& ctx, const Tensor& image) const { return forward_mid(ctx, forward_down(ctx, image)); }

VAEDecoder VAEDecoder::load(const WeightScope& w, const VAEConfig& cfg) {
    VAEDecoder d;
    int64_t ch = cfg.level_channels.back();
    d.conv_in = Conv2d::load(w.sub("conv_in"), {ch, cfg.z_channels, 3, 3});
    d.mid = VAEMid::load(w.sub("mid"), ch, cfg.mid_attention);
    d.up.resize(size_t(cfg.levels()));
    for (int i = cfg.levels() - 1; i >= 0; --i) {  // run order: deepest level first
        WeightScope u = w.sub("up").sub(i);
        const int64_t c = cfg.level_channels[size_t(i)];
        Level& lv = d.up[size_t(i)];
        for (int j = 0; j <= cfg.num_res_blocks; ++j, ch = c) lv.blocks.push_back(VAEResBlock::load(u.sub("block").sub(j), ch, c));
        if (i > 0) lv.upsample = Conv2d::load(u.sub("upsample.conv"), {c, c, 3, 3});
    }
    d.norm_out = GroupNorm::load(w.sub("norm_out"), 32, 1e-6f, ch);
    d.conv_out = Conv2d::load(w.sub("conv_out"), {cfg.out_channels, ch, 3, 3});
    return d;
}

Tensor VAEDecoder::forward_mid(Ctx& ctx, const Tensor& z) const {
    return mid.forward(ctx, conv_in(ctx, z));  // [N, C_last, h, w]
}

Tensor VAEDecoder::forward(Ctx& ctx, const Tensor& z) const { return forward_up(ctx, forward_mid(ctx, z)); }

Tensor VAEDecoder::forward_up(Ctx& ctx, const Tensor& x) const {
    Tensor h = x;
    for (auto it = up.rbegin(); it != up.rend(); ++it) {
        for (auto& b : it->blocks) h = b.forward(ctx, h);
        if (it->upsample) h = (*it->upsample)(ctx, upsample_nearest2x(ctx, h));  // [N, C, 2H, 2W]
    }
    return conv_out(ctx, norm_out(ctx, h, /*fuse_silu=*/true));  // [N, 3, H, W]
}

// ---- config + model ----------------------------------------------------------------------------

std::string VAEConfig::describe() const {
    std::ostringstream os;
    os << "VAE channels [";
    for (int i = 0; i < levels(); ++i) os << (i ? "," : "") << level_channels[size_t(i)];
    os << "], " << num_res_blocks << " res blocks, z " << z_channels << ", latent " << latent_channels
       << (mid_attention ? ", mid attention" : "") << ", scaling " << scaling_factor;
    return os.str();
}

VAEConfig VAEConfig::detect(const WeightStore& store, const ModelHints& hints, Family family) {
    WeightScope w(store, kPrefix);
    auto need = [&](const std::string& k, size_t ndim) { return w.need_shape(k, ndim, "VAE"); };
    VAEConfig c;
    c.in_channels = need("encoder.conv_in.weight", 4)[1];
    for (int i = 0; w.has_scope("encoder.down." + std::to_string(i)); ++i) {
        const std::string d = "encoder.down." + std::to_string(i);
        c.level_channels.push_back(need(d + ".block.0.conv1.weight", 4)[0]);
        if (w.has_scope(d + ".attn"))
            throw error("VAE: attention inside encoder levels ('", w.key(d + ".attn"), "') is not an SD VAE");
    }
    if (c.level_channels.empty()) throw error("not an SD VAE: no '", w.key("encoder.down.0"), "'");
    c.num_res_blocks = 0;
    while (w.has_scope("encoder.down.0.block." + std::to_string(c.num_res_blocks))) ++c.num_res_blocks;
    c.z_channels = need("encoder.conv_out.weight", 4)[0] / 2;
    c.mid_attention = w.has_scope("encoder.mid.attn_1");
    c.quant_conv = w.has_scope("quant_conv");
    c.post_quant_conv = w.has_scope("post_quant_conv");
    c.latent_channels = c.post_quant_conv ? need("post_quant_conv.weight", 4)[1]
                        : c.quant_conv   ? need("quant_conv.weight", 4)[0] / 2
                                         : c.z_channels;
    c.out_channels = need("decoder.conv_out.weight", 4)[0];
    if (hints.vae_scaling_factor) {
        c.scaling_factor = *hints.vae_scaling_factor;
    } else {
        const bool sdxl = family == Family::SDXL || family == Family::SDXLRefiner ||
                          (family == Family::Unknown && store.contains("model.diffusion_model.label_emb.0.0.weight"));
        c.scaling_factor = sdxl ? 0.13025f : 0.18215f;
    }
    return c;
}

VAE VAE::load(const WeightStore& store, const VAEConfig& cfg) {
    WeightScope w(store, kPrefix);
    VAE v;
    v.cfg = cfg;
    v.encoder = VAEEncoder::load(w.sub("encoder"), cfg);
    v.decoder = VAEDecoder::load(w.sub("decoder"), cfg);
    if (cfg.quant_conv) {
        v.quant_conv = Conv2d::load(w.sub("quant_conv"), {2 * cfg.latent_channels, 2 * cfg.z_channels, 1, 1});
    }
    if (cfg.post_quant_conv) {
        v.post_quant_conv = Conv2d::load(w.sub("post_quant_conv"), {cfg.z_channels, cfg.latent_channels, 1, 1});
    }
    return v;
}

VAEPosterior posterior_from_moments(const Tensor& moments_in) {
    SDPP_CHECK(moments_in.ndim() == 4 && moments_in.dim(1) % 2 == 0, "[vae] moments ", moments_in.shape_str(),
               " must be [N,2C,h,w]");
    VAEPosterior p;
    p.moments = moments_in.to(DType::F32);
    const int64_t n = p.moments.dim(0), c = p.moments.dim(1) / 2, hw = p.moments.dim(2) * p.moments.dim(3);
    const Shape s{n, c, p.moments.dim(2), p.moments.dim(3)};
    p.mean = Tensor::empty(s);
    p.logvar = Tensor::empty(s);
    p.std = Tensor::empty(s);
    const float* m = p.moments.data<float>();
    float *mean = p.mean.data<float>(), *lv = p.logvar.data<float>(), *sd = p.std.data<float>();
    for (int64_t b = 0; b < n; ++b) {
        const float* mb = m + b * 2 * c * hw;
        std::copy(mb, mb + c * hw, mean + b * c * hw);
        for (int64_t i = 0; i < c * hw; ++i) {
            const float l = std::clamp(mb[c * hw + i], -30.0f, 20.0f);
            lv[b * c * hw + i] = l;
            sd[b * c * hw + i] = std::exp(0.5f * l);
        }
    }
    return p;
}

VAEPosterior VAE::encode(Ctx& ctx, const Tensor& image) const {
    SDPP_CHECK(image.defined() && image.ndim() == 4 && image.dim(1) == cfg.in_channels, "[vae] image ",
               image.defined() ? image.shape_str() : "(none)", " must be [N,", cfg.in_channels, ",H,W]");
    SDPP_CHECK(image.dim(2) >= 1 && image.dim(3) >= 1, "[vae] empty image ", image.shape_str());
    Tensor m = encoder.forward(ctx, image);
    if (quant_conv) m = (*quant_conv)(ctx, m);
    return posterior_from_moments(m);
}

Tensor VAE::decode(Ctx& ctx, const Tensor& z) const {
    SDPP_CHECK(z.defined() && z.ndim() == 4 && z.dim(1) == cfg.latent_channels, "[vae] latent ",
               z.defined() ? z.shape_str() : "(none)", " must be [N,", cfg.latent_channels, ",h,w]");
    SDPP_CHECK(z.dim(2) >= 1 && z.dim(3) >= 1, "[vae] empty latent ", z.shape_str());
    return decoder.forward(ctx, post_quant_conv ? (*post_quant_conv)(ctx, z) : z);
}

}  // namespace sdpp
