// See masked_fill.h. The integer arithmetic follows Pillow 9.4's libImaging (BoxBlur.c
// ImagingGaussianBlur / ImagingBoxBlur / ImagingLineBoxBlur32, Convert.c rgbA2rgba / rgba2rgbA,
// Paste.c paste_mask_L, AlphaComposite.c ImagingAlphaComposite), so the result is PIL's byte for byte.
#include "io/masked_fill.h"

#include "core/error.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <vector>

namespace sdpp {

namespace {

// PIL's DIV255 / SHIFTFORDIV255 (integer a / 255 with rounding).
inline uint32_t shift_div255(uint32_t a) { return ((a >> 8) + a) >> 8; }
inline uint8_t div255(uint32_t a) { return uint8_t(shift_div255(a + 128)); }

// ImagingGaussianBlur: the box radius giving a Gaussian of `radius` after `passes` box passes
// (Gwosdek et al., "Theoretical foundations of Gaussian convolution by extended box filtering"),
// in PIL's float arithmetic. The volatile stores keep the compiler from fusing multiply-adds,
// which would round differently from PIL's build.
float box_radius(float radius, int passes) {
    const float sigma2 = radius * radius / float(passes);
    const float L = float(std::sqrt(12.0 * double(sigma2) + 1.0));
    const float l = float(std::floor((double(L) - 1.0) / 2.0));
    volatile float ll = l * (l + 1);
    volatile float s3 = 3 * sigma2;
    volatile float a = (2 * l + 1) * (ll - s3);
    volatile float l1 = (l + 1) * (l + 1);
    volatile float den = 6 * (sigma2 - l1);
    const float frac = a / den;
    return l + frac;
}

// One horizontal box-blur pass over every row (ImagingHorizontalBoxBlur): window [x - r, x + r]
// with weight ww, the two pixels just outside it with weight fw, indices clamped to the row,
// 8.24 fixed point, rounded.
void box_blur_rows(std::vector<uint8_t>& px, int w, int h, int ch, float radius) {
    const int r = int(radius);
    const uint32_t ww = uint32_t(float(uint32_t(1) << 24) / (radius * 2 + 1));
    const uint32_t fw = ((uint32_t(1) << 24) - uint32_t(r * 2 + 1) * ww) / 2;
    std::vector<uint64_t> prefix(size_t(w + 2 * (r + 1)) + 1);
    std::vector<uint8_t> line(size_t(w) * ch);
    for (int y = 0; y < h; ++y) {
        uint8_t* row = px.data() + size_t(y) * w * ch;
        std::copy(row, row + size_t(w) * ch, line.begin());
        for (int c = 0; c < ch; ++c) {
            // prefix over the row padded by r + 1 repeated edge pixels on each side
            auto at = [&](int x) { return uint64_t(line[size_t(std::clamp(x, 0, w - 1)) * ch + c]); };
            prefix[0] = 0;
            for (int k = 0; k < w + 2 * (r + 1); ++k) prefix[size_t(k) + 1] = prefix[size_t(k)] + at(k - (r + 1));
            for (int x = 0; x < w; ++x) {
                // sum of at(x - r .. x + r): padded indices x + 1 .. x + 2r + 1
                const uint64_t acc = prefix[size_t(x + 2 * r + 2)] - prefix[size_t(x + 1)];
                const uint64_t bulk = acc * ww + (at(x - r - 1) + at(x + r + 1)) * fw;
                row[size_t(x) * ch + c] = uint8_t((bulk + (uint64_t(1) << 23)) >> 24);
            }
        }
    }
}

std::vector<uint8_t> transpose(const std::vector<uint8_t>& px, int w, int h, int ch) {
    std::vector<uint8_t> t(px.size());
    for (int y = 0; y < h; ++y)
        for (int x = 0; x < w; ++x)
            for (int c = 0; c < ch; ++c) t[(size_t(x) * h + y) * ch + c] = px[(size_t(y) * w + x) * ch + c];
    return t;
}

// ImagingBoxBlur with 3 passes: all horizontal passes, then all vertical ones (on the transpose).
void gaussian_blur_inplace(std::vector<uint8_t>& px, int w, int h, int ch, float radius) {
    const float br = box_radius(radius, 3);
    SDPP_CHECK(br >= 0, "PIL GaussianBlur: radius ", radius, " gives a negative box radius");
    for (int i = 0; i < 3; ++i) box_blur_rows(px, w, h, ch, br);
    std::vector<uint8_t> t = transpose(px, w, h, ch);
    for (int i = 0; i < 3; ++i) box_blur_rows(t, h, w, ch, br);
    px = transpose(t, h, w, ch);
}

}  // namespace

Image pil_gaussian_blur(const Image& image, float radius) {
    Image out = image;
    if (image.empty()) return out;
    gaussian_blur_inplace(out.pixels, image.width, image.height, image.channels, radius);
    return out;
}

Image masked_fill(const Image& image, const Image& mask) {
    SDPP_CHECK(image.channels == 3, "masked fill: the image must be RGB");
    SDPP_CHECK(mask.channels == 1 && mask.width == image.width && mask.height == image.height, "masked fill: mask is ",
               mask.width, "x", mask.height, " but the image is ", image.width, "x", image.height);
    const int w = image.width, h = image.height;
    const size_t n = size_t(w) * h;
    // image_masked = new RGBa (zeros); paste(image as RGBa (alpha 255: premultiplying changes
    // nothing), mask = 255 - mask): every channel (alpha too) becomes DIV255(v * (255 - mask)).
    std::vector<uint8_t> masked(n * 4);
    for (size_t i = 0; i < n; ++i) {
        const uint32_t m = 255u - mask.pixels[i];
        for (int c = 0; c < 3; ++c) masked[i * 4 + c] = div255(uint32_t(image.pixels[i * 3 + c]) * m);
        masked[i * 4 + 3] = div255(255u * m);
    }
    std::vector<uint8_t> canvas(n * 4, 0);  // image_mod: transparent RGBA
    std::vector<uint8_t> blurred;
    const std::pair<float, int> passes[] = {{256.f, 1}, {64.f, 1}, {16.f, 2}, {4.f, 4}, {2.f, 2}, {0.f, 1}};
    for (const auto& [radius, repeats] : passes) {
        blurred = masked;
        gaussian_blur_inplace(blurred, w, h, 4, radius);
        for (size_t i = 0; i < n; ++i) {  // RGBa -> RGBA (Convert.c rgba2rgbA)
            uint8_t* p = &blurred[i * 4];
            const uint32_t a = p[3];
            if (a != 0 && a != 255)
                for (int c = 0; c < 3; ++c) p[c] = uint8_t(std::min<uint32_t>(255u, 255u * p[c] / a));
        }
        for (int rep = 0; rep < repeats; ++rep) {
            for (size_t i = 0; i < n; ++i) {  // canvas.alpha_composite(blurred) (AlphaComposite.c)
                const uint8_t* s = &blurred[i * 4];
                uint8_t* d = &canvas[i * 4];
                if (s[3] == 0) continue;
                constexpr uint32_t kBits = 7;  // PRECISION_BITS
                const uint32_t blend = uint32_t(d[3]) * (255u - s[3]);
                const uint32_t outa255 = uint32_t(s[3]) * 255u + blend;
                const uint32_t coef1 = uint32_t(s[3]) * 255u * 255u * (1u << kBits) / outa255;
                const uint32_t coef2 = 255u * (1u << kBits) - coef1;
                for (int c = 0; c < 3; ++c) {
                    const uint32_t t = uint32_t(s[c]) * coef1 + uint32_t(d[c]) * coef2;
                    d[c] = uint8_t(shift_div255(t + (0x80u << kBits)) >> kBits);
                }
                d[3] = uint8_t(shift_div255(outa255 + 0x80u));
            }
        }
    }
    Image out = Image::blank(w, h, 3);  // convert("RGB"): alpha dropped
    for (size_t i = 0; i < n; ++i)
        for (int c = 0; c < 3; ++c) out.pixels[i * 3 + c] = canvas[i * 4 + c];
    return out;
}

}  // namespace sdpp
