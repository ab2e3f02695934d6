// The hires fix's plan, without tensors: the second pass's size (A1111's
// calculate_target_resolution: hr_resize_x/y cover-and-crop or int(width * hr_scale)), its steps,
// and the request's checks. Kept apart from hires.cpp so the request checks link without the engine
// (the server's request fuzzer compiles this file in).
#include "pipeline/pipeline.h"

#include "core/error.h"
#include "sample/latent_upscale.h"

#include <cmath>

namespace sdpp::pipeline {

namespace {

bool is_pixel_upscaler(const std::string& name) { return name == "Lanczos" || name == "Nearest"; }

}  // namespace

// A float the user typed, as the double Python would hold for it (0.7f -> 0.7).
double typed_decimal(float v) { return std::round(double(v) * 1e6) / 1e6; }

int schedule_calls(SamplerKind kind, int steps) {
    // A1111 SamplerData.total_steps: second-order samplers call the denoiser twice per step.
    switch (kind) {
        case SamplerKind::Heun:
        case SamplerKind::Dpm2:
        case SamplerKind::Dpm2Ancestral:
        case SamplerKind::Dpmpp2sAncestral:
        case SamplerKind::DpmppSde: return 2 * steps;
        default: return steps;
    }
}

void validate_hires(const GenerateRequest& r) {
    if (!r.hires) return;
    if (r.init_image || r.init_pixels || r.mask) throw Error("hires fix is for txt2img (no init image or mask)");
    if (!std::isfinite(r.hires_scale) || r.hires_scale < 1.0f || r.hires_scale > 8.0f)
        throw error("hires scale ", r.hires_scale, " is out of range (1..8)");
    for (auto [what, v] : {std::pair{"hires width", r.hires_width}, std::pair{"hires height", r.hires_height}}) {
        if (v == 0) continue;
        if (v < 8 || v > 16384) throw error(what, " ", v, " is out of range (8..16384)");
        if (v % 8 != 0) throw error(what, " ", v, " is not a multiple of 8");
    }
    if (r.hires_steps < 0 || r.hires_steps > 10000) throw error("hires steps ", r.hires_steps, " is out of range (0..10000)");
    if (!std::isfinite(r.hires_denoise) || r.hires_denoise <= 0.0f || r.hires_denoise > 1.0f)
        throw error("hires denoising strength ", r.hires_denoise, " is out of range (0 < d <= 1)");
    LatentUpscaler lu;
    if (!latent_upscaler_from_name(r.hires_upscaler, lu) && !is_pixel_upscaler(r.hires_upscaler)) {
        std::string names;
        for (const std::string& n : latent_upscaler_names()) names += "'" + n + "', ";
        throw error("unknown hires upscaler '", r.hires_upscaler, "' (", names, "'Lanczos', 'Nearest')");
    }
    if (!r.hires_sampler.empty()) resolve_sampler(r.hires_sampler, r.scheduler);
}

HiresPlan plan_hires(const GenerateRequest& r, int downscale) {
    HiresPlan p;
    p.pixel = is_pixel_upscaler(r.hires_upscaler);
    p.upscaler = r.hires_upscaler;
    const int w = r.width, h = r.height;
    int tx = w, ty = h;
    if (r.hires_width == 0 && r.hires_height == 0) {
        const double s = typed_decimal(r.hires_scale);
        tx = int(w * s);
        ty = int(h * s);
    } else if (r.hires_height == 0) {
        tx = r.hires_width;
        ty = r.hires_width * h / w;
    } else if (r.hires_width == 0) {
        tx = r.hires_height * w / h;
        ty = r.hires_height;
    } else {
        const double src_ratio = double(w) / h, dst_ratio = double(r.hires_width) / r.hires_height;
        if (src_ratio < dst_ratio) {
            tx = r.hires_width;
            ty = r.hires_width * h / w;
        } else {
            tx = r.hires_height * w / h;
            ty = r.hires_height;
        }
        p.truncate_x = (tx - r.hires_width) / downscale;
        p.truncate_y = (ty - r.hires_height) / downscale;
    }
    p.upscale_w = tx;
    p.upscale_h = ty;
    p.latent_w = tx / downscale - p.truncate_x;
    p.latent_h = ty / downscale - p.truncate_y;
    SDPP_CHECK(p.latent_w >= 1 && p.latent_h >= 1, "hires size ", tx, "x", ty, " is too small");
    p.steps = r.hires_steps > 0 ? r.hires_steps : r.steps;
    return p;
}

}  // namespace sdpp::pipeline

namespace sdpp {

std::array<int, 2> hires_size(const GenerateRequest& r) {
    if (!r.hires) return {r.width, r.height};
    const pipeline::HiresPlan p = pipeline::plan_hires(r, 8);
    return {int(p.latent_w * 8), int(p.latent_h * 8)};  // (from int sizes: no overflow)
}

}  // namespace sdpp
