// Tiled VAE encode/decode: overlapping tiles through the full-resolution half of the network (decoder
// up path, encoder down path), blended with linear ramps across the overlaps (the idea of diffusers
// AutoencoderKL.tiled_decode / tiled_encode, with a normalised weighted sum instead of pairwise blends,
// so any tile grid works); the mid block runs once on the whole latent-resolution map (VAETiling).
// Each tile's up path runs in row bands (vae_banded.cpp). Peak memory is one tile's full-resolution
// activations plus the latent-resolution map and the output.
#include "model/vae.h"

#include "core/error.h"

#include <algorithm>
#include <vector>

namespace sdpp {

namespace {

// Tile starts along one axis of `size`: stride tile - overlap, the last tile flush with the end.
std::vector<int64_t> tile_starts(int64_t size, int64_t tile, int64_t overlap) {
    std::vector<int64_t> s;
    if (size <= tile) return {0};
    const int64_t stride = tile - overlap;
    for (int64_t p = 0; p + tile < size; p += stride) s.push_back(p);
    s.push_back(size - tile);
    return s;
}

// Blend weight along one axis of a tile of `len` output pixels: a linear ramp over `ramp` pixels on
// each side that has a neighbour (first/last tiles keep weight 1 at the image border).
std::vector<float> ramp_weights(int64_t len, int64_t ramp, bool lead, bool trail) {
    std::vector<float> w(size_t(len), 1.0f);
    for (int64_t i = 0; i < len; ++i) {
        float v = 1.0f;
        if (lead && i < ramp) v = std::min(v, (float(i) + 0.5f) / float(ramp));
        if (trail && len - 1 - i < ramp) v = std::min(v, (float(len - 1 - i) + 0.5f) / float(ramp));
        w[size_t(i)] = v;
    }
    return w;
}

// Accumulates weighted tiles of an [N, C, H, W] output; finish() divides by the weight sums.
struct Blender {
    Tensor acc;
    std::vector<float> wsum;  // [H, W]
    int64_t n, c, h, w;

    Blender(int64_t n_, int64_t c_, int64_t h_, int64_t w_)
        : acc(Tensor::zeros({n_, c_, h_, w_})), wsum(size_t(h_ * w_), 0.0f), n(n_), c(c_), h(h_), w(w_) {}

    void add(const Tensor& tile_in, int64_t y0, int64_t x0, int64_t ramp, bool top, bool bottom, bool left,
             bool right) {
        Tensor tile = tile_in.contiguous();
        const int64_t th = tile.dim(2), tw = tile.dim(3);
        SDPP_CHECK(tile.dim(0) == n && tile.dim(1) == c && y0 + th <= h && x0 + tw <= w, "[vae tiles] tile ",
                   tile.shape_str(), " at ", y0, ",", x0, " outside [", n, ",", c, ",", h, ",", w, "]");
        const std::vector<float> wy = ramp_weights(th, ramp, top, bottom), wx = ramp_weights(tw, ramp, left, right);
        const float* src = tile.data<float>();
        float* dst = acc.data<float>();
#pragma omp parallel for schedule(static)
        for (int64_t p = 0; p < n * c; ++p)
            for (int64_t y = 0; y < th; ++y) {
                const float* s = src + (p * th + y) * tw;
                float* d = dst + (p * h + y0 + y) * w + x0;
                for (int64_t x = 0; x < tw; ++x) d[x] += wy[size_t(y)] * wx[size_t(x)] * s[x];
            }
        for (int64_t y = 0; y < th; ++y)
            for (int64_t x = 0; x < tw; ++x) wsum[size_t((y0 + y) * w + x0 + x)] += wy[size_t(y)] * wx[size_t(x)];
    }

    Tensor finish() {
        float* d = acc.data<float>();
#pragma omp parallel for schedule(static)
        for (int64_t p = 0; p < n * c; ++p)
            for (int64_t i = 0; i < h * w; ++i) d[p * h * w + i] /= wsum[size_t(i)];
        return acc;
    }
};

void check_tiling(const VAETiling& t) {
    SDPP_CHECK(t.tile >= 8 && t.overlap >= 0 && t.overlap * 2 <= t.tile && t.halo >= 0, "[vae] tile size ", t.tile,
               " with overlap ", t.overlap, " and halo ", t.halo,
               " is invalid (tile >= 8, 0 <= overlap <= tile / 2, halo >= 0)");
}

}  // namespace

Tensor VAE::decode_tiled(Ctx& ctx, const Tensor& z, const VAETiling& tiling) const {
    check_tiling(tiling);
    SDPP_CHECK(z.defined() && z.ndim() == 4 && z.dim(1) == cfg.latent_channels, "[vae] latent ",
               z.defined() ? z.shape_str() : "(none)", " must be [N,", cfg.latent_channels, ",h,w]");
    const int64_t h = z.dim(2), w = z.dim(3), f = cfg.downscale();
    if (h <= tiling.tile && w <= tiling.tile) return decode(ctx, z);
    Tensor zq = post_quant_conv ? (*post_quant_conv)(ctx, z) : z;            // [N, z, h, w]
    Tensor mid = tiling.global_mid ? decoder.forward_mid(ctx, zq) : Tensor();  // [N, C_last, h, w]
    const Tensor& src = tiling.global_mid ? mid : zq;
    const auto ys = tile_starts(h, tiling.tile, tiling.overlap), xs = tile_starts(w, tiling.tile, tiling.overlap);
    Blender out(z.dim(0), cfg.out_channels, h * f, w * f);
    const int64_t pad = tiling.halo;
    for (size_t iy = 0; iy < ys.size(); ++iy)
        for (size_t ix = 0; ix < xs.size(); ++ix) {
            const int64_t y0 = ys[iy], x0 = xs[ix];
            const int64_t th = std::min(tiling.tile, h - y0), tw = std::min(tiling.tile, w - x0);
            // the tile plus a halo of context on each side that has one, cropped off after the up path
            const int64_t ya = std::max<int64_t>(0, y0 - pad), yb = std::min(h, y0 + th + pad);
            const int64_t xa = std::max<int64_t>(0, x0 - pad), xb = std::min(w, x0 + tw + pad);
            Tensor part = src.slice(2, ya, yb).slice(3, xa, xb);
            if (!tiling.global_mid) part = decoder.forward_mid(ctx, part);
            Tensor img = decoder.forward_up_banded(ctx, part, kVAEBandBytes);  // [N, 3, (yb-ya)*f, (xb-xa)*f]
            img = img.slice(2, (y0 - ya) * f, (y0 - ya + th) * f).slice(3, (x0 - xa) * f, (x0 - xa + tw) * f);
            out.add(img, y0 * f, x0 * f, tiling.overlap * f, iy > 0, iy + 1 < ys.size(), ix > 0, ix + 1 < xs.size());
        }
    return out.finish();
}

VAEPosterior VAE::encode_tiled(Ctx& ctx, const Tensor& image, const VAETiling& tiling) const {
    check_tiling(tiling);
    SDPP_CHECK(image.defined() && image.ndim() == 4 && image.dim(1) == cfg.in_channels, "[vae] image ",
               image.defined() ? image.shape_str() : "(none)", " must be [N,", cfg.in_channels, ",H,W]");
    const int64_t f = cfg.downscale(), hp = image.dim(2), wp = image.dim(3);
    if (hp <= tiling.tile * f && wp <= tiling.tile * f) return encode(ctx, image);
    SDPP_CHECK(hp % f == 0 && wp % f == 0, "[vae] tiled encode needs image sizes that are multiples of ", f, ", got ",
               image.shape_str());
    const int64_t h = hp / f, w = wp / f;  // latent size
    const auto ys = tile_starts(h, tiling.tile, tiling.overlap), xs = tile_starts(w, tiling.tile, tiling.overlap);
    // global_mid: blend the down path's features, then mid + conv_out once; else blend the moments.
    const int64_t channels = tiling.global_mid ? cfg.level_channels.back() : 2 * cfg.latent_channels;
    Blender out(image.dim(0), channels, h, w);
    const int64_t pad = tiling.halo;
    for (size_t iy = 0; iy < ys.size(); ++iy)
        for (size_t ix = 0; ix < xs.size(); ++ix) {
            const int64_t y0 = ys[iy], x0 = xs[ix];
            const int64_t th = std::min(tiling.tile, h - y0), tw = std::min(tiling.tile, w - x0);
            const int64_t ya = std::max<int64_t>(0, y0 - pad), yb = std::min(h, y0 + th + pad);
            const int64_t xa = std::max<int64_t>(0, x0 - pad), xb = std::min(w, x0 + tw + pad);
            Tensor crop = image.slice(2, ya * f, yb * f).slice(3, xa * f, xb * f);
            Tensor part = encoder.forward_down(ctx, crop);  // [N, C_last, yb-ya, xb-xa]
            part = part.slice(2, y0 - ya, y0 - ya + th).slice(3, x0 - xa, x0 - xa + tw);
            if (!tiling.global_mid) {
                part = encoder.forward_mid(ctx, part);
                if (quant_conv) part = (*quant_conv)(ctx, part);  // [N, 2C, th, tw]
            }
            out.add(part, y0, x0, tiling.overlap, iy > 0, iy + 1 < ys.size(), ix > 0, ix + 1 < xs.size());
        }
    Tensor m = out.finish();
    if (tiling.global_mid) {
        m = encoder.forward_mid(ctx, m);
        if (quant_conv) m = (*quant_conv)(ctx, m);
    }
    return posterior_from_moments(m);
}

}  // namespace sdpp
