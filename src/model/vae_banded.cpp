// Row-band execution of the VAE decoder's full-resolution path (see kVAEBandBytes in vae.h): every
// layer runs over bands of rows of its input, each GroupNorm with the statistics of the whole map,
// each 3x3 conv on its band plus one row of context on each side that has one, writing its rows of
// the output in place (conv2d_into). Exact: the same ops and statistics as the plain forward; only
// the conv calls are split.
#include "model/vae.h"
#include "core/assert.h"

#include "core/error.h"

#include <algorithm>

namespace sdpp {

namespace {

// Rows per band so that one band of the [N, C, H, W] map x holds about `bytes` (at least 8 rows, so
// the context rows each band normalises again stay a small share).
int64_t band_rows(const Tensor& x, int64_t bytes) {
    const int64_t row = std::max<int64_t>(1, x.dim(0) * x.dim(1) * x.dim(3) * int64_t(sizeof(float)));
    return std::clamp<int64_t>(bytes / row, 8, std::max<int64_t>(8, x.dim(2)));
}

// Rows [r0, r1) of a stride-1 'same' conv over a map of `height` rows, written into dst, from
// input_rows(a, b): the conv input's rows [a, b). The conv reads the band plus the rows of context
// its kernel needs where the map has them, and zero padding only at the map's own edges, so every
// output row is computed once and lands in place.
template <class InputRows>
void conv_rows_into(Ctx& ctx, const Conv2d& conv, int64_t height, int64_t r0, int64_t r1, InputRows&& input_rows,
                    const Tensor& dst) {
    const int64_t p = conv.padding;
    SDPP_CHECK(conv.stride == 1 && conv.weight.dim(2) == 2 * p + 1, "[vae bands] conv ",
               conv.weight.shape_str(), " with stride ", conv.stride, " and padding ", p, " is not 'same'");
    const int64_t a = std::max<int64_t>(0, r0 - p), b = std::min(height, r1 + p);
    const Pad2d pad{int(p - (r0 - a)), int(p - (b - r1)), int(p), int(p)};
    conv2d_into(ctx, input_rows(a, b), conv.weight, conv.bias, 1, pad, dst);
}

// conv(SiLU(norm(x))) over row bands of x, plus skip(r0, r1) (rows of a residual) when given.
template <class Skip>
Tensor norm_silu_conv_banded(Ctx& ctx, const GroupNorm& norm, const Conv2d& conv, const Tensor& x, int64_t band_bytes,
                             Skip&& skip) {
    const int64_t height = x.dim(2), rows = band_rows(x, band_bytes);
    const Tensor st = norm.stats(ctx, x);
    Tensor out = Tensor::empty({x.dim(0), conv.out_channels(), height, x.dim(3)});
    for (int64_t r0 = 0; r0 < height; r0 += rows) {
        const int64_t r1 = std::min(height, r0 + rows);
        Tensor band = out.slice(2, r0, r1);
        conv_rows_into(ctx, conv, height, r0, r1,
                       [&](int64_t a, int64_t b) { return norm.apply(ctx, x.slice(2, a, b), st, true); }, band);
        Tensor residual = skip(r0, r1);
        if (residual.defined()) add_into(ctx, band, residual);
    }
    return out;
}

// conv(nearest2x(x)) over row bands of the upsampled map: each band upsamples only the input rows
// it covers.
Tensor upsample_conv_banded(Ctx& ctx, const Conv2d& conv, const Tensor& x, int64_t band_bytes) {
    const int64_t height = 2 * x.dim(2);
    const int64_t rows = std::max<int64_t>(8, 2 * (band_rows(x, band_bytes) / 4));  // input rows twice as wide
    Tensor out = Tensor::empty({x.dim(0), conv.out_channels(), height, 2 * x.dim(3)});
    for (int64_t r0 = 0; r0 < height; r0 += rows) {
        const int64_t r1 = std::min(height, r0 + rows);
        conv_rows_into(ctx, conv, height, r0, r1, [&](int64_t a, int64_t b) {
            const int64_t la = a / 2, lb = (b + 1) / 2;  // input rows whose copies cover [a, b)
            return upsample_nearest2x(ctx, x.slice(2, la, lb)).slice(2, a - 2 * la, b - 2 * la);
        }, out.slice(2, r0, r1));
    }
    return out;
}

// The encoder's downsample: conv (3x3, stride 2, no padding) of x padded by one zero row at the
// bottom and one zero column at the right, over bands of output rows. Output row o reads input rows
// 2o .. 2o + 2; the bottom pad row only exists for the band that reaches it.
Tensor downsample_banded(Ctx& ctx, const Conv2d& conv, const Tensor& x, int64_t band_bytes) {
    SDPP_ASSERT(conv.stride == 2 && conv.padding == 0 && conv.weight.dim(2) == 3 && conv.weight.dim(3) == 3,
               "[vae bands] downsample conv ", conv.weight.shape_str(), " is not 3x3 stride 2 unpadded");
    SDPP_CHECK(x.dim(2) >= 2 && x.dim(3) >= 2, "[vae bands] map ", x.shape_str(), " is too small to downsample");
    const int64_t h = x.dim(2), ho = (h + 1 - 3) / 2 + 1, wo = (x.dim(3) + 1 - 3) / 2 + 1;
    const int64_t rows = std::max<int64_t>(4, band_rows(x, band_bytes) / 2);
    Tensor out = Tensor::empty({x.dim(0), conv.out_channels(), ho, wo});
    for (int64_t r0 = 0; r0 < ho; r0 += rows) {
        const int64_t r1 = std::min(ho, r0 + rows), a = 2 * r0, b = std::min(h, 2 * r1 + 1);
        conv2d_into(ctx, x.slice(2, a, b), conv.weight, conv.bias, 2, Pad2d{0, int(2 * r1 + 1 - b), 0, 1},
                    out.slice(2, r0, r1));
    }
    return out;
}

// A 'same' conv over row bands of x (no norm in front: the encoder's conv_in).
Tensor conv_banded(Ctx& ctx, const Conv2d& conv, const Tensor& x, int64_t band_bytes) {
    const int64_t height = x.dim(2), rows = band_rows(x, band_bytes);
    Tensor out = Tensor::empty({x.dim(0), conv.out_channels(), height, x.dim(3)});
    for (int64_t r0 = 0; r0 < height; r0 += rows) {
        const int64_t r1 = std::min(height, r0 + rows);
        conv_rows_into(ctx, conv, height, r0, r1, [&](int64_t a, int64_t b) { return x.slice(2, a, b); },
                       out.slice(2, r0, r1));
    }
    return out;
}

}  // namespace

Tensor VAEResBlock::forward_banded(Ctx& ctx, const Tensor& x_, int64_t band_bytes) const {
    const Tensor x = contiguous(ctx, x_);
    auto none = [](int64_t, int64_t) { return Tensor(); };
    Tensor h = norm_silu_conv_banded(ctx, norm1, conv1, x, band_bytes, none);
    return norm_silu_conv_banded(ctx, norm2, conv2, h, band_bytes, [&](int64_t r0, int64_t r1) {
        Tensor rows = x.slice(2, r0, r1);
        return nin_shortcut ? (*nin_shortcut)(ctx, rows) : rows;
    });
}

Tensor VAEDecoder::forward_up_banded(Ctx& ctx, const Tensor& x, int64_t band_bytes) const {
    SDPP_CHECK(band_bytes > 0, "[vae bands] band size must be positive, got ", band_bytes);
    Tensor h = contiguous(ctx, x);
    for (auto it = up.rbegin(); it != up.rend(); ++it) {
        for (auto& b : it->blocks) h = b.forward_banded(ctx, h, band_bytes);
        if (it->upsample) h = upsample_conv_banded(ctx, *it->upsample, h, band_bytes);  // [N, C, 2H, 2W]
    }
    return norm_silu_conv_banded(ctx, norm_out, conv_out, h, band_bytes,
                                 [](int64_t, int64_t) { return Tensor(); });  // [N, 3, H, W]
}

Tensor VAE::decode_banded(Ctx& ctx, const Tensor& z, int64_t band_bytes) const {
    SDPP_CHECK(z.defined() && z.ndim() == 4 && z.dim(1) == cfg.latent_channels, "[vae] latent ",
               z.defined() ? z.shape_str() : "(none)", " must be [N,", cfg.latent_channels, ",h,w]");
    SDPP_CHECK(z.dim(2) >= 1 && z.dim(3) >= 1, "[vae] empty latent ", z.shape_str());
    Tensor mid = decoder.forward_mid(ctx, post_quant_conv ? (*post_quant_conv)(ctx, z) : z);
    return decoder.forward_up_banded(ctx, mid, band_bytes);
}


Tensor VAEEncoder::forward_down_banded(Ctx& ctx, const Tensor& image, int64_t band_bytes) const {
    SDPP_CHECK(band_bytes > 0, "[vae bands] band size must be positive, got ", band_bytes);
    // conv_in's output has 128 channels to the image's 3: size its bands by the output
    Tensor h = conv_banded(ctx, conv_in, contiguous(ctx, image),
                           std::max<int64_t>(1, band_bytes * image.dim(1) / conv_in.out_channels()));
    for (auto& lv : down) {
        for (auto& b : lv.blocks) h = b.forward_banded(ctx, h, band_bytes);
        if (lv.downsample) h = downsample_banded(ctx, *lv.downsample, h, band_bytes);  // [N, C, H/2, W/2]
    }
    return h;
}

VAEPosterior VAE::encode_banded(Ctx& ctx, const Tensor& image, int64_t band_bytes) const {
    SDPP_CHECK(image.defined() && image.ndim() == 4 && image.dim(1) == cfg.in_channels, "[vae] image ",
               image.defined() ? image.shape_str() : "(none)", " must be [N,", cfg.in_channels, ",H,W]");
    SDPP_CHECK(image.dim(2) >= 1 && image.dim(3) >= 1, "[vae] empty image ", image.shape_str());
    Tensor m = encoder.forward_mid(ctx, encoder.forward_down_banded(ctx, image, band_bytes));
    if (quant_conv) m = (*quant_conv)(ctx, m);
    return posterior_from_moments(m);
}

}  // namespace sdpp
