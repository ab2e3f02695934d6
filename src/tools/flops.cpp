// Analytic FLOP counts (see flops.h). Walks the U-Net's block plan (model/unet_plan.h, ldm
// openaimodel.UNetModel) and the VAE decoder in the order vae.cpp runs it (ldm model.Decoder),
// tracking channels and sizes.
#include "tools/flops.h"

#include "core/error.h"
#include "model/unet_plan.h"

#include <vector>

namespace sdpp {

namespace {

// Counts as each op would: n = batch, rows/positions given explicitly.
struct Counter {
    FlopCount f;
    int64_t n = 1;

    void conv(int64_t ho, int64_t wo, int64_t cin, int64_t cout, int64_t k) {
        f.conv += 2.0 * double(n) * double(ho) * double(wo) * double(cout) * double(cin) * double(k * k);
    }
    void linear(int64_t rows, int64_t in, int64_t out) { f.linear += 2.0 * double(rows) * double(in) * double(out); }
    // Q K^T and P V over all heads: 2 * 2 * B * Sq * Sk * inner.
    void attention(int64_t sq, int64_t sk, int64_t inner) {
        f.attention += 4.0 * double(n) * double(sq) * double(sk) * double(inner);
    }

    // U-Net ResBlock (in_layers conv 3x3, emb_layers linear, out_layers conv 3x3, 1x1 skip if widths differ).
    void unet_res(int64_t h, int64_t w, int64_t cin, int64_t cout, int64_t emb) {
        conv(h, w, cin, cout, 3);
        linear(n, emb, cout);
        conv(h, w, cout, cout, 3);
        if (cin != cout) conv(h, w, cin, cout, 1);
    }
    // SpatialTransformer of `depth` BasicTransformerBlocks at width c (inner = c, GEGLU 4c).
    void transformer(int64_t h, int64_t w, int64_t c, int depth, int64_t ctx_dim, int64_t ctx_len) {
        const int64_t s = h * w, rows = n * s;
        linear(rows, c, c);  // proj_in (1x1 conv or linear: the same products)
        for (int d = 0; d < depth; ++d) {
            linear(rows, c, 3 * c);  // attn1 q|k|v
            attention(s, s, c);
            linear(rows, c, c);      // attn1 out
            linear(rows, c, c);      // attn2 q
            linear(n * ctx_len, ctx_dim, 2 * c);  // attn2 k|v on the context
            attention(s, ctx_len, c);
            linear(rows, c, c);      // attn2 out
            linear(rows, c, 8 * c);  // ff.net.0.proj (GEGLU: 2 x 4c)
            linear(rows, 4 * c, c);  // ff.net.2
        }
        linear(rows, c, c);  // proj_out
    }
    // VAE ResnetBlock: conv1, conv2 (3x3), nin_shortcut 1x1 if widths differ.
    void vae_res(int64_t h, int64_t w, int64_t cin, int64_t cout) {
        conv(h, w, cin, cout, 3);
        conv(h, w, cout, cout, 3);
        if (cin != cout) conv(h, w, cin, cout, 1);
    }
    // VAE AttnBlock: q|k|v and proj_out as 1x1 convs, one head over all positions.
    void vae_attn(int64_t h, int64_t w, int64_t c) {
        conv(h, w, c, 3 * c, 1);
        attention(h * w, h * w, c);
        conv(h, w, c, c, 1);
    }
};

int64_t half_up(int64_t s) { return (s + 1) / 2; }  // conv 3x3, stride 2, padding 1

}  // namespace

FlopCount unet_flops(const UNetConfig& cfg, int64_t batch, int64_t latent_h, int64_t latent_w, int64_t context_len) {
    const UNetPlan plan = plan_unet(cfg);
    SDPP_CHECK(batch > 0 && latent_h > 0 && latent_w > 0 && context_len >= 0, "[flops] bad size: batch ", batch,
               ", latent ", latent_h, "x", latent_w, ", context ", context_len);
    Counter k;
    k.n = batch;
    const int64_t e = cfg.time_embed_dim;
    k.linear(batch, cfg.model_channels, e);  // time_embed.0
    k.linear(batch, e, e);                   // time_embed.2
    if (cfg.adm_in_channels > 0) {
        k.linear(batch, cfg.adm_in_channels, e);  // label_emb.0.0
        k.linear(batch, e, e);                    // label_emb.0.2
    }
    // Map size per level: each Downsample halves rounding up; each Upsample crops 2x back to the
    // skip's size, which is the size of the level it returns to.
    std::vector<int64_t> hs{latent_h}, ws{latent_w};
    for (int l = 1; l < cfg.levels(); ++l) {
        hs.push_back(half_up(hs.back()));
        ws.push_back(half_up(ws.back()));
    }
    auto block = [&](const UNetBlockPlan& p) {
        const int64_t h = hs[size_t(p.level)], w = ws[size_t(p.level)];
        if (p.down) {
            k.conv(hs[size_t(p.level) + 1], ws[size_t(p.level) + 1], p.in_channels, p.out_channels, 3);  // stride 2
            return;
        }
        k.unet_res(h, w, p.in_channels, p.out_channels, e);
        if (p.transformer_depth > 0) k.transformer(h, w, p.out_channels, p.transformer_depth, cfg.context_dim, context_len);
        if (p.up) k.conv(hs[size_t(p.level) - 1], ws[size_t(p.level) - 1], p.out_channels, p.out_channels, 3);
    };
    k.conv(latent_h, latent_w, cfg.in_channels, cfg.model_channels, 3);  // conv_in
    for (const UNetBlockPlan& p : plan.input_blocks) block(p);
    const UNetBlockPlan& m = plan.middle;
    block(m);
    k.unet_res(hs.back(), ws.back(), m.out_channels, m.out_channels, e);  // middle_block's second ResBlock
    for (const UNetBlockPlan& p : plan.output_blocks) block(p);
    k.conv(latent_h, latent_w, cfg.model_channels, cfg.out_channels, 3);  // out.2
    return k.f;
}

FlopCount vae_decode_flops(const VAEConfig& cfg, int64_t batch, int64_t latent_h, int64_t latent_w) {
    const int levels = cfg.levels();
    SDPP_CHECK(levels > 0, "[flops] VAE config has no levels");
    SDPP_CHECK(batch > 0 && latent_h > 0 && latent_w > 0, "[flops] bad size: batch ", batch, ", latent ", latent_h, "x",
               latent_w);
    Counter k;
    k.n = batch;
    int64_t h = latent_h, w = latent_w;
    if (cfg.post_quant_conv) k.conv(h, w, cfg.latent_channels, cfg.z_channels, 1);
    int64_t ch = cfg.level_channels.back();
    k.conv(h, w, cfg.z_channels, ch, 3);  // conv_in
    k.vae_res(h, w, ch, ch);              // mid.block_1
    if (cfg.mid_attention) k.vae_attn(h, w, ch);
    k.vae_res(h, w, ch, ch);              // mid.block_2
    for (int l = levels - 1; l >= 0; --l) {
        const int64_t c = cfg.level_channels[size_t(l)];
        for (int j = 0; j <= cfg.num_res_blocks; ++j) {
            k.vae_res(h, w, ch, c);
            ch = c;
        }
        if (l > 0) {
            h *= 2;
            w *= 2;
            k.conv(h, w, ch, ch, 3);  // upsample.conv after nearest 2x
        }
    }
    k.conv(h, w, ch, cfg.out_channels, 3);  // conv_out
    return k.f;
}

}  // namespace sdpp
