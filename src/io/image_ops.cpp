// Pixel operations for init images and masks, and image <-> tensor conversion.
// Mirrors: diffusers VaeImageProcessor.normalize / postprocess("pil") (rounding), PIL's
// Resample.c (Lanczos-3, horizontal pass then vertical, support scaled by the downscale factor),
// A1111 modules/images.py resize_image (resize modes 0/1/2), A1111 processing.py mask blur
// (cv2.GaussianBlur, kernel 2*int(2.5*sigma+0.5)+1, BORDER_REFLECT_101), PIL convert("L").
#include "io/image.h"

#include "core/error.h"

#include <algorithm>
#include <cfenv>
#include <cmath>
#include <numbers>

namespace sdpp {

namespace {

uint8_t clamp_u8(double v) {
    if (!(v > 0)) return 0;  // also NaN
    if (v >= 255) return 255;
    return uint8_t(std::lround(v));
}

double sinc(double x) {
    if (x == 0.0) return 1.0;
    x *= std::numbers::pi;
    return std::sin(x) / x;
}
double lanczos3(double x) { return (x > -3.0 && x < 3.0) ? sinc(x) * sinc(x / 3.0) : 0.0; }
// PIL's bicubic (a = -0.5), support 2.
double bicubic(double x) {
    constexpr double a = -0.5;
    x = std::fabs(x);
    if (x < 1.0) return ((a + 2.0) * x - (a + 3.0)) * x * x + 1;
    if (x < 2.0) return (((x - 5) * x + 8) * x - 4) * a;
    return 0.0;
}

struct Filter {
    double (*fn)(double);
    double support;
};
constexpr Filter kLanczos{lanczos3, 3.0};
constexpr Filter kBicubic{bicubic, 2.0};

// PIL precompute_coeffs: for each output index, the first input index and the normalised weights.
struct Coeffs {
    std::vector<int> first;
    std::vector<int> count;
    std::vector<double> weights;  // out_size * stride
    int stride = 0;
};

Coeffs filter_coeffs(int in_size, int out_size, Filter f) {
    double scale = double(in_size) / out_size;
    double filterscale = std::max(scale, 1.0);
    double support = f.support * filterscale;
    Coeffs c;
    c.stride = int(std::ceil(support)) * 2 + 1;
    c.first.resize(size_t(out_size));
    c.count.resize(size_t(out_size));
    c.weights.assign(size_t(out_size) * c.stride, 0.0);
    for (int xx = 0; xx < out_size; ++xx) {
        double center = (xx + 0.5) * scale;
        int xmin = std::max(int(center - support + 0.5), 0);
        int xmax = std::min(int(center + support + 0.5), in_size) - xmin;
        xmax = std::min(xmax, c.stride);
        double* k = &c.weights[size_t(xx) * c.stride];
        double ww = 0;
        for (int x = 0; x < xmax; ++x) {
            double w = f.fn((x + xmin - center + 0.5) / filterscale);
            k[x] = w;
            ww += w;
        }
        if (ww != 0)
            for (int x = 0; x < xmax; ++x) k[x] /= ww;
        c.first[size_t(xx)] = xmin;
        c.count[size_t(xx)] = std::max(xmax, 0);
    }
    return c;
}

Image resample_horizontal(const Image& im, int out_w, Filter f) {
    Coeffs c = filter_coeffs(im.width, out_w, f);
    Image out = Image::blank(out_w, im.height, im.channels);
    const int ch = im.channels;
    for (int y = 0; y < im.height; ++y)
        for (int xx = 0; xx < out_w; ++xx) {
            const double* k = &c.weights[size_t(xx) * c.stride];
            for (int ci = 0; ci < ch; ++ci) {
                double s = 0;
                for (int i = 0; i < c.count[size_t(xx)]; ++i) s += k[i] * im.at(c.first[size_t(xx)] + i, y, ci);
                out.at(xx, y, ci) = clamp_u8(s);
            }
        }
    return out;
}

Image resample_vertical(const Image& im, int out_h, Filter f) {
    Coeffs c = filter_coeffs(im.height, out_h, f);
    Image out = Image::blank(im.width, out_h, im.channels);
    const int ch = im.channels;
    for (int yy = 0; yy < out_h; ++yy) {
        const double* k = &c.weights[size_t(yy) * c.stride];
        for (int x = 0; x < im.width; ++x)
            for (int ci = 0; ci < ch; ++ci) {
                double s = 0;
                for (int i = 0; i < c.count[size_t(yy)]; ++i) s += k[i] * im.at(x, c.first[size_t(yy)] + i, ci);
                out.at(x, yy, ci) = clamp_u8(s);
            }
    }
    return out;
}

// Stretches one edge row (or column) of `src` to fill a w x h block: what PIL's resize with a
// zero-height (zero-width) box does in A1111's "resize and fill".
Image edge_fill(const Image& src, int w, int h, bool row, int index) {
    Image out = Image::blank(w, h, src.channels);
    if (row) {
        Image line = crop(src, 0, index, src.width, 1);
        if (line.width != w) line = resize_lanczos(line, w, 1);
        for (int y = 0; y < h; ++y) paste(out, line, 0, y);
    } else {
        Image col = crop(src, index, 0, 1, src.height);
        if (col.height != h) col = resize_lanczos(col, 1, h);
        for (int x = 0; x < w; ++x) paste(out, col, x, 0);
    }
    return out;
}

int reflect101(int i, int n) {
    if (n == 1) return 0;
    int period = 2 * n - 2;
    i = i % period;
    if (i < 0) i += period;
    return i < n ? i : period - i;
}

std::vector<double> gaussian_kernel(float sigma) {
    int ksize = 2 * int(2.5 * sigma + 0.5) + 1;
    std::vector<double> k(static_cast<size_t>(ksize));
    double sum = 0;
    double c = (ksize - 1) * 0.5;
    for (int i = 0; i < ksize; ++i) {
        double d = i - c;
        k[size_t(i)] = std::exp(-(d * d) / (2.0 * double(sigma) * sigma));
        sum += k[size_t(i)];
    }
    for (double& v : k) v /= sum;
    return k;
}

}  // namespace

// ---- tensors ----------------------------------------------------------------------------------
Tensor image_to_tensor(const Image& image) {
    Image rgb = to_rgb(image);
    const int64_t H = rgb.height, W = rgb.width;
    Tensor t = Tensor::empty({1, 3, H, W});
    float* p = t.data<float>();
    for (int64_t c = 0; c < 3; ++c)
        for (int64_t y = 0; y < H; ++y)
            for (int64_t x = 0; x < W; ++x)
                p[(c * H + y) * W + x] = float(rgb.pixels[size_t((y * W + x) * 3 + c)]) / 255.0f * 2.0f - 1.0f;
    return t;
}

Tensor mask_to_tensor(const Image& mask) {
    Image g = mask.channels == 1 ? mask : to_gray(mask);
    Tensor t = Tensor::empty({1, 1, g.height, g.width});
    float* p = t.data<float>();
    for (size_t i = 0; i < g.pixels.size(); ++i) p[i] = float(g.pixels[i]) / 255.0f;
    return t;
}

std::vector<Image> tensor_to_images(const Tensor& images) {
    SDPP_CHECK(images.ndim() == 4 && images.dim(1) == 3, "tensor_to_images: expected [N, 3, H, W], got ",
               images.shape_str());
    Tensor t = images.to(DType::F32).contiguous();
    const int64_t N = t.dim(0), H = t.dim(2), W = t.dim(3);
    const float* p = t.data<float>();
    std::vector<Image> out;
    const int old_round = std::fegetround();
    std::fesetround(FE_TONEAREST);  // numpy's round(): ties to even
    for (int64_t n = 0; n < N; ++n) {
        Image im = Image::blank(int(W), int(H), 3);
        for (int64_t c = 0; c < 3; ++c)
            for (int64_t y = 0; y < H; ++y)
                for (int64_t x = 0; x < W; ++x) {
                    float v = p[((n * 3 + c) * H + y) * W + x] / 2.0f + 0.5f;
                    v = std::isnan(v) ? 0.0f : std::clamp(v, 0.0f, 1.0f);
                    float s = v * 255.0f;
                    im.pixels[size_t((y * W + x) * 3 + c)] = uint8_t(std::nearbyint(s));
                }
        out.push_back(std::move(im));
    }
    std::fesetround(old_round);
    return out;
}

// ---- resizing ---------------------------------------------------------------------------------
const char* resize_mode_name(ResizeMode m) {
    switch (m) {
        case ResizeMode::Just: return "just resize";
        case ResizeMode::CropAndResize: return "crop and resize";
        case ResizeMode::ResizeAndFill: return "resize and fill";
    }
    return "?";
}

ResizeMode parse_resize_mode(const std::string& s) {
    std::string l;
    for (char ch : s) l.push_back(char(std::tolower(static_cast<unsigned char>(ch))));
    if (l == "just resize" || l == "just" || l == "resize" || l == "0") return ResizeMode::Just;
    if (l == "crop and resize" || l == "crop" || l == "1") return ResizeMode::CropAndResize;
    if (l == "resize and fill" || l == "fill" || l == "2") return ResizeMode::ResizeAndFill;
    throw error("unknown resize mode '", s, "' (expected: just, crop, fill)");
}

namespace {
Image resample(const Image& image, int width, int height, Filter f) {
    SDPP_CHECK(width > 0 && height > 0, "resize: bad target size ", width, "x", height);
    SDPP_CHECK(image.width > 0 && image.height > 0, "resize: empty image");
    Image out = image;
    if (width != out.width) out = resample_horizontal(out, width, f);
    if (height != out.height) out = resample_vertical(out, height, f);
    return out;
}
}  // namespace

Image resize_lanczos(const Image& image, int width, int height) { return resample(image, width, height, kLanczos); }
Image resize_bicubic(const Image& image, int width, int height) { return resample(image, width, height, kBicubic); }

Image resize_image(const Image& image, int width, int height, ResizeMode mode) {
    SDPP_CHECK(width > 0 && height > 0, "resize: bad target size ", width, "x", height);
    if (mode == ResizeMode::Just) return resize_lanczos(image, width, height);
    const double ratio = double(width) / height;
    const double src_ratio = double(image.width) / image.height;
    if (mode == ResizeMode::CropAndResize) {
        int src_w = ratio > src_ratio ? width : image.width * height / image.height;
        int src_h = ratio <= src_ratio ? height : image.height * width / image.width;
        Image resized = resize_lanczos(image, std::max(src_w, 1), std::max(src_h, 1));
        Image res = Image::blank(width, height, image.channels);
        paste(res, resized, width / 2 - src_w / 2, height / 2 - src_h / 2);
        return res;
    }
    int src_w = ratio < src_ratio ? width : image.width * height / image.height;
    int src_h = ratio >= src_ratio ? height : image.height * width / image.width;
    src_w = std::max(src_w, 1);
    src_h = std::max(src_h, 1);
    Image resized = resize_lanczos(image, src_w, src_h);
    Image res = Image::blank(width, height, image.channels);
    const int ox = width / 2 - src_w / 2, oy = height / 2 - src_h / 2;
    paste(res, resized, ox, oy);
    // A1111 stretches the edge rows/columns over the borders. It pastes fill_height rows below,
    // which leaves one black row when the remainder is odd; we fill to the border instead.
    if (ratio < src_ratio && oy > 0) {
        paste(res, edge_fill(resized, width, oy, true, 0), 0, 0);
        int below = height - (oy + src_h);
        if (below > 0) paste(res, edge_fill(resized, width, below, true, resized.height - 1), 0, oy + src_h);
    } else if (ratio > src_ratio && ox > 0) {
        paste(res, edge_fill(resized, ox, height, false, 0), 0, 0);
        int right = width - (ox + src_w);
        if (right > 0) paste(res, edge_fill(resized, right, height, false, resized.width - 1), ox + src_w, 0);
    }
    return res;
}

Image crop(const Image& image, int x, int y, int w, int h) {
    SDPP_CHECK(x >= 0 && y >= 0 && w > 0 && h > 0 && x + w <= image.width && y + h <= image.height, "crop: box ", x,
               ",", y, " ", w, "x", h, " outside image ", image.width, "x", image.height);
    Image out = Image::blank(w, h, image.channels);
    const size_t row = size_t(w) * image.channels;
    for (int yy = 0; yy < h; ++yy)
        std::copy_n(&image.pixels[(size_t(y + yy) * image.width + x) * image.channels], row,
                    &out.pixels[size_t(yy) * row]);
    return out;
}

void paste(Image& dst, const Image& src, int x, int y) {
    SDPP_CHECK(dst.channels == src.channels, "paste: channel count ", src.channels, " != ", dst.channels);
    int x0 = std::max(x, 0), y0 = std::max(y, 0);
    int x1 = std::min(x + src.width, dst.width), y1 = std::min(y + src.height, dst.height);
    if (x1 <= x0 || y1 <= y0) return;
    for (int yy = y0; yy < y1; ++yy)
        std::copy_n(&src.pixels[(size_t(yy - y) * src.width + (x0 - x)) * src.channels], size_t(x1 - x0) * src.channels,
                    &dst.pixels[(size_t(yy) * dst.width + x0) * dst.channels]);
}

void composite(Image& dst, const Image& src, const Image& alpha) {
    SDPP_CHECK(dst.width == src.width && dst.height == src.height && dst.channels == src.channels &&
                   alpha.width == dst.width && alpha.height == dst.height && alpha.channels == 1,
               "composite: images of different sizes (", dst.width, "x", dst.height, ", ", src.width, "x", src.height,
               ", alpha ", alpha.width, "x", alpha.height, ")");
    for (int y = 0; y < dst.height; ++y)
        for (int x = 0; x < dst.width; ++x) {
            int a = alpha.at(x, y);
            for (int c = 0; c < dst.channels; ++c) {
                int v = dst.at(x, y, c) * (255 - a) + src.at(x, y, c) * a;
                dst.at(x, y, c) = uint8_t((v + 127) / 255);
            }
        }
}

Image to_gray(const Image& image) {
    if (image.channels == 1) return image;
    Image out = Image::blank(image.width, image.height, 1);
    for (size_t i = 0, n = size_t(image.width) * image.height; i < n; ++i) {
        const uint8_t* p = &image.pixels[i * 3];
        out.pixels[i] = uint8_t((p[0] * 19595u + p[1] * 38470u + p[2] * 7471u + 0x8000u) >> 16);
    }
    return out;
}

Image to_rgb(const Image& image) {
    if (image.channels == 3) return image;
    Image out = Image::blank(image.width, image.height, 3);
    for (size_t i = 0, n = size_t(image.width) * image.height; i < n; ++i)
        out.pixels[3 * i] = out.pixels[3 * i + 1] = out.pixels[3 * i + 2] = image.pixels[i];
    return out;
}

Image invert(const Image& image) {
    Image out = image;
    for (uint8_t& v : out.pixels) v = uint8_t(255 - v);
    return out;
}

Image gaussian_blur(const Image& image, float sigma_x, float sigma_y) {
    Image cur = image;
    const int ch = image.channels;
    if (sigma_x > 0) {
        std::vector<double> k = gaussian_kernel(sigma_x);
        const int r = int(k.size() / 2);
        Image out = Image::blank(cur.width, cur.height, ch);
        for (int y = 0; y < cur.height; ++y)
            for (int x = 0; x < cur.width; ++x)
                for (int c = 0; c < ch; ++c) {
                    double s = 0;
                    for (int i = -r; i <= r; ++i) s += k[size_t(i + r)] * cur.at(reflect101(x + i, cur.width), y, c);
                    out.at(x, y, c) = clamp_u8(s);
                }
        cur = std::move(out);
    }
    if (sigma_y > 0) {
        std::vector<double> k = gaussian_kernel(sigma_y);
        const int r = int(k.size() / 2);
        Image out = Image::blank(cur.width, cur.height, ch);
        for (int y = 0; y < cur.height; ++y)
            for (int x = 0; x < cur.width; ++x)
                for (int c = 0; c < ch; ++c) {
                    double s = 0;
                    for (int i = -r; i <= r; ++i) s += k[size_t(i + r)] * cur.at(x, reflect101(y + i, cur.height), c);
                    out.at(x, y, c) = clamp_u8(s);
                }
        cur = std::move(out);
    }
    return cur;
}

PaddedCanvas pad_canvas(const Image& image, int left, int top, int right, int bottom) {
    SDPP_CHECK(left >= 0 && top >= 0 && right >= 0 && bottom >= 0, "outpaint: padding must be >= 0 (got ", left,
               ",", top, ",", right, ",", bottom, ")");
    SDPP_CHECK(image.width > 0 && image.height > 0, "outpaint: empty image");
    const int W = image.width + left + right, H = image.height + top + bottom;
    PaddedCanvas out{Image::blank(W, H, image.channels), Image::blank(W, H, 1, 255)};
    for (int y = 0; y < H; ++y) {
        int sy = std::clamp(y - top, 0, image.height - 1);
        for (int x = 0; x < W; ++x) {
            int sx = std::clamp(x - left, 0, image.width - 1);
            for (int c = 0; c < image.channels; ++c) out.image.at(x, y, c) = image.at(sx, sy, c);
        }
    }
    for (int y = 0; y < image.height; ++y)
        std::fill_n(&out.mask.pixels[size_t(y + top) * W + left], image.width, uint8_t(0));
    return out;
}

Box mask_bounding_box(const Image& mask, uint8_t threshold) {
    Box b{mask.width, mask.height, 0, 0};
    for (int y = 0; y < mask.height; ++y)
        for (int x = 0; x < mask.width; ++x) {
            bool on = false;
            for (int c = 0; c < mask.channels; ++c) on = on || mask.at(x, y, c) > threshold;
            if (!on) continue;
            b.x0 = std::min(b.x0, x), b.y0 = std::min(b.y0, y);
            b.x1 = std::max(b.x1, x + 1), b.y1 = std::max(b.y1, y + 1);
        }
    if (b.empty()) return Box{};
    return b;
}

}  // namespace sdpp
