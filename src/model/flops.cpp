// Analytic FLOP counts (see flops.h). Walks the U-Net and the VAE decoder in the order unet.cpp and
// vae.cpp run them (ldm openaimodel.UNetModel, ldm model.Decoder), tracking channels and sizes.
#include "model/flops.h"

#include "core/error.h"

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
    const int levels = cfg.levels();
    SDPP_CHECK(levels > 0 && cfg.num_res_blocks.size() == size_t(levels) && cfg.transformer_depth.size() == size_t(levels),
               "[flops] U-Net config has ", levels, " levels but ", cfg.num_res_blocks.size(), " res-block counts and ",
               cfg.transformer_depth.size(), " transformer depths");
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

    struct Skip { int64_t c, h, w; };
    std::vector<Skip> skips;
    int64_t h = latent_h, w = latent_w, ch = cfg.model_channels;
    k.conv(h, w, cfg.in_channels, ch, 3);  // conv_in
    skips.push_back({ch, h, w});
    for (int l = 0; l < levels; ++l) {
        const int64_t c = cfg.level_channels[size_t(l)];
        for (int j = 0; j < cfg.num_res_blocks[size_t(l)]; ++j) {
            k.unet_res(h, w, ch, c, e);
            ch = c;
            if (cfg.transformer_depth[size_t(l)] > 0)
                k.transformer(h, w, c, cfg.transformer_depth[size_t(l)], cfg.context_dim, context_len);
            skips.push_back({ch, h, w});
        }
        if (l + 1 < levels) {
            h = half_up(h);
            w = half_up(w);
            k.conv(h, w, ch, ch, 3);  // Downsample op (stride 2)
            skips.push_back({ch, h, w});
        }
    }
    k.unet_res(h, w, ch, ch, e);
    if (cfg.transformer_depth_middle > 0) k.transformer(h, w, ch, cfg.transformer_depth_middle, cfg.context_dim, context_len);
    k.unet_res(h, w, ch, ch, e);

    for (int l = levels - 1; l >= 0; --l) {
        const int64_t c = cfg.level_channels[size_t(l)];
        for (int j = 0; j <= cfg.num_res_blocks[size_t(l)]; ++j) {
            SDPP_CHECK(!skips.empty(), "[flops] skip stack underflow");
            const Skip s = skips.back();
            skips.pop_back();
            k.unet_res(h, w, ch + s.c, c, e);
            ch = c;
            if (cfg.transformer_depth[size_t(l)] > 0)
                k.transformer(h, w, c, cfg.transformer_depth[size_t(l)], cfg.context_dim, context_len);
            if (l > 0 && j == cfg.num_res_blocks[size_t(l)]) {
                // Upsample: nearest 2x cropped to the next skip's size, then conv 3x3 at that size.
                h = skips.empty() ? 2 * h : skips.back().h;
                w = skips.empty() ? 2 * w : skips.back().w;
                k.conv(h, w, ch, ch, 3);
            }
        }
    }
    k.conv(h, w, ch, cfg.out_channels, 3);  // out.2
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
