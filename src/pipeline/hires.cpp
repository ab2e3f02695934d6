// Hires fix pieces, as A1111's StableDiffusionProcessingTxt2Img does it (modules/processing.py
// init / calculate_target_resolution / sample_hr_pass, sd_samplers_common.setup_img2img_steps,
// sd_samplers_kdiffusion.sample_img2img, modules/upscaler.py, images.resize_image):
//   target size  hr_resize_x/y given: cover them keeping the aspect, the latent cropped to them
//                (truncate_x/y); else int(width * hr_scale) x int(height * hr_scale)
//   upscale      latent modes: F.interpolate to target // 8; pixel modes (Lanczos, Nearest):
//                the first pass decoded, to uint8 (truncated), resized by A1111's Upscaler loop,
//                VAE-encoded again
//   second pass  noise = the seeds' first draw at the new shape (a fresh ImageRNG); explicit steps
//                take setup_img2img_steps' branch: total = int(hr_steps / min(denoise, 0.999)),
//                sigmas = get_sigmas(total)[total - hr_steps:], x = upscaled + noise * sigmas[0];
//                the prompt schedule on the hires timeline; the CFG call counter restarts.
// Orchestration helpers only; engine.cpp runs the passes. The plan (sizes, checks) is hires_plan.cpp.
#include "pipeline/pipeline.h"

#include "core/error.h"
#include "io/image.h"
#include "sample/latent_upscale.h"

#include <cmath>

namespace sdpp::pipeline {

namespace {

// PIL Image.resize(NEAREST): source = int((x + 0.5) * in / out).
Image resize_nearest(const Image& im, int w, int h) {
    Image out = Image::blank(w, h, im.channels);
    const double sx = double(im.width) / w, sy = double(im.height) / h;
    for (int y = 0; y < h; ++y) {
        const int iy = std::min(im.height - 1, int((y + 0.5) * sy));
        for (int x = 0; x < w; ++x) {
            const int ix = std::min(im.width - 1, int((x + 0.5) * sx));
            for (int c = 0; c < im.channels; ++c)
                out.pixels[(size_t(y) * w + x) * im.channels + c] = im.pixels[(size_t(iy) * im.width + ix) * im.channels + c];
        }
    }
    return out;
}

}  // namespace

std::vector<float> hires_sigmas(const SamplerChoice& sampler, int hr_steps, float denoise, const DiscreteSchedule& schedule) {
    const double d = std::min(typed_decimal(denoise), 0.999);
    const int total = int(double(hr_steps) / d);
    SDPP_CHECK(total >= hr_steps && total >= 1, "hires: ", hr_steps, " steps at denoising ", denoise, " make no schedule");
    std::vector<float> full = full_sigmas(sampler, total, schedule);
    const int t_enc = hr_steps - 1;
    const size_t start = size_t(int(full.size()) - 1 - t_enc - 1);  // total - t_enc - 1 for steps + 1 sigmas
    return std::vector<float>(full.begin() + std::ptrdiff_t(start), full.end());
}

Tensor hires_latent(const Tensor& first, const HiresPlan& p, int downscale) {
    LatentUpscaler how;
    SDPP_CHECK(latent_upscaler_from_name(p.upscaler, how), "hires: '", p.upscaler, "' is not a latent upscaler");
    Tensor up = upscale_latent(first, p.upscale_h / downscale, p.upscale_w / downscale, how);
    return crop_hires_latent(up, p);
}

Tensor crop_hires_latent(const Tensor& up, const HiresPlan& p) {
    if (p.truncate_x == 0 && p.truncate_y == 0) return up;
    const int64_t H = up.dim(2), W = up.dim(3);
    Tensor t = up.slice(2, p.truncate_y / 2, H - (p.truncate_y + 1) / 2);
    t = t.slice(3, p.truncate_x / 2, W - (p.truncate_x + 1) / 2);
    return t.contiguous();
}

Image hires_image(const Image& lowres, const HiresPlan& p) {
    // images.resize_image(0, image, w, h, upscaler_name) -> Upscaler.upscale (do_upscale up to 3
    // times toward the size rounded down to a multiple of 8), then a Lanczos resize to w x h.
    const int w = p.upscale_w, h = p.upscale_h;
    Image im = lowres;
    const double scale = std::max(double(w) / im.width, double(h) / im.height);
    if (scale > 1.0) {
        const int dest_w = int(std::floor(im.width * scale / 8) * 8), dest_h = int(std::floor(im.height * scale / 8) * 8);
        for (int i = 0; i < 3; ++i) {
            if (im.width >= dest_w && im.height >= dest_h && (i > 0 || scale != 1)) break;
            const int nw = int(im.width * scale), nh = int(im.height * scale);
            if (nw == im.width && nh == im.height) break;
            im = p.upscaler == "Nearest" ? resize_nearest(im, nw, nh) : resize_lanczos(im, nw, nh);
        }
        if (im.width != dest_w || im.height != dest_h) im = resize_lanczos(im, dest_w, dest_h);
    }
    if (im.width != w || im.height != h) im = resize_lanczos(im, w, h);
    return im;
}

Image decoded_to_uint8_truncated(const Tensor& decoded) {
    // A1111 sample_hr_pass: 255 * clamp((x + 1) / 2, 0, 1), astype(uint8) (truncation).
    Tensor x = decoded.to(DType::F32).contiguous();
    SDPP_CHECK(x.ndim() == 4 && x.dim(0) == 1 && x.dim(1) == 3, "hires: expected one decoded image, got ", x.shape_str());
    const int H = int(x.dim(2)), W = int(x.dim(3));
    Image out = Image::blank(W, H, 3);
    const float* d = x.data<float>();
    for (int c = 0; c < 3; ++c)
        for (int y = 0; y < H; ++y)
            for (int xx = 0; xx < W; ++xx) {
                float v = std::clamp((d[(size_t(c) * H + y) * W + xx] + 1.0f) / 2.0f, 0.0f, 1.0f);
                out.pixels[(size_t(y) * W + xx) * 3 + c] = uint8_t(255.0f * v);
            }
    return out;
}

}  // namespace sdpp::pipeline
