// Request checks that need no model (the CLI runs them before loading anything heavy) and the
// defaults a model gives a request (the references' defaults per family).
#include "pipeline/request.h"
#include "pipeline/pipeline.h"

#include "core/error.h"

#include <sdpp/sdpp.hpp>

#include <cmath>
#include <random>

namespace sdpp {

namespace {

constexpr int kMaxSide = 16384;

void check_size(const char* what, int v) {
    if (v == 0) return;  // default
    if (v < 8 || v > kMaxSide) throw error(what, " ", v, " is out of range (8..", kMaxSide, ")");
    if (v % 8 != 0) throw error(what, " ", v, " is not a multiple of 8");
}

}  // namespace

void validate_request(const GenerateRequest& r) {
    check_size("width", r.width);
    check_size("height", r.height);
    if (r.steps < 0) throw error("steps must be >= 1 (got ", r.steps, ")");
    if (r.steps > 10000) throw error("steps ", r.steps, " is out of range (1..10000)");
    if (r.cfg_scale && (!std::isfinite(*r.cfg_scale) || *r.cfg_scale < 0 || *r.cfg_scale > 100))
        throw error("cfg scale ", *r.cfg_scale, " is out of range (0..100)");
    if (!r.sampler.empty()) resolve_sampler(r.sampler, r.scheduler);
    else parse_scheduler_name(r.scheduler);
    if (r.batch_size < 1 || r.batch_size > 64) throw error("batch size ", r.batch_size, " is out of range (1..64)");
    if (r.batch_count < 1 || r.batch_count > 100000) throw error("batch count ", r.batch_count, " is out of range");
    if (r.clip_skip < 0 || r.clip_skip > 12) throw error("clip skip ", r.clip_skip, " is out of range (0..12)");
    if (!std::isfinite(r.eta) || r.eta < 0) throw error("eta ", r.eta, " must be >= 0");
    if (!std::isfinite(r.strength) || r.strength < 0 || r.strength > 1)
        throw error("strength ", r.strength, " is out of range (0..1)");
    if (!std::isfinite(r.subseed_strength) || r.subseed_strength < 0 || r.subseed_strength > 1)
        throw error("subseed strength ", r.subseed_strength, " is out of range (0..1)");
    if (!std::isfinite(r.mask_blur) || r.mask_blur < 0 || r.mask_blur > 256)
        throw error("mask blur ", r.mask_blur, " is out of range (0..256)");
    if (r.only_masked_padding < 0) throw error("only-masked padding must be >= 0");
    if (r.preview_every < 0) throw error("preview interval must be >= 0");
    if (int(r.inpaint_fill) < 0 || int(r.inpaint_fill) > 3)
        throw error("masked content ", int(r.inpaint_fill), " is out of range (0..3)");
    if (r.inpaint_fill != InpaintFill::Original && r.mask && r.init_pixels)
        throw error("masked content '", inpaint_fill_name(r.inpaint_fill), "' needs an 8-bit init image, not init pixels");
    if (!r.vae_decoder.empty() && r.vae_decoder != "full" && r.vae_decoder != "taesd")
        throw error("unknown VAE decoder '", r.vae_decoder, "' (full or taesd)");
    if (r.preview_method != "auto" && r.preview_method != "taesd" && r.preview_method != "cheap" &&
        r.preview_method != "none")
        throw error("unknown preview method '", r.preview_method, "' (auto, taesd, cheap or none)");
    for (int p : r.outpaint)
        if (p < 0 || p > kMaxSide) throw error("outpaint padding ", p, " is out of range (0..", kMaxSide, ")");
    const bool outpaint = r.outpaint != std::array<int, 4>{0, 0, 0, 0};
    if (r.init_pixels) {
        const auto& sh = r.init_pixels->shape;
        if (sh.size() != 4 || sh[0] != 1 || sh[1] != 3 || sh[2] < 8 || sh[3] < 8 ||
            int64_t(r.init_pixels->data.size()) != sh[0] * sh[1] * sh[2] * sh[3])
            throw Error("init pixels must be a [1, 3, H, W] float tensor");
        if ((r.width && r.width != sh[3]) || (r.height && r.height != sh[2]))
            throw error("init pixels are ", sh[3], "x", sh[2], " but the target size is ", r.width, "x", r.height);
        if (outpaint || r.only_masked) throw Error("init pixels cannot be outpainted or cropped (only masked)");
        if (r.mask && (r.mask->width != sh[3] || r.mask->height != sh[2]))
            throw error("mask is ", r.mask->width, "x", r.mask->height, " but the init pixels are ", sh[3], "x", sh[2]);
    }
    if (r.mask && !r.init_image && !r.init_pixels) throw Error("a mask needs an init image");
    if (outpaint && !r.init_image) throw Error("outpainting needs an init image");
    if (outpaint && r.only_masked) throw Error("outpainting and only-masked inpainting cannot be combined");
    if (r.init_image) {
        const Image& im = *r.init_image;
        if (im.width <= 0 || im.height <= 0 || im.pixels.size() != size_t(im.width) * im.height * im.channels)
            throw Error("init image is empty or malformed");
    }
    if (r.mask && r.init_image) {
        const Image& m = *r.mask;
        const Image& im = *r.init_image;
        if (m.width != im.width || m.height != im.height)
            throw error("mask is ", m.width, "x", m.height, " but the init image is ", im.width, "x", im.height);
    }
    for (const auto& s : {r.original_size, r.target_size})
        if (s && ((*s)[0] <= 0 || (*s)[1] <= 0)) throw Error("SDXL size conditioning must be positive");
    pipeline::validate_hires(r);
}

int64_t random_seed() {
    std::random_device rd;
    // A1111: int(random.randrange(4294967294))
    return int64_t((uint64_t(rd()) << 32 | rd()) % 4294967294ull);
}

ResolvedRequest resolve_request(const GenerateRequest& in, const ModelDescription& model) {
    validate_request(in);
    GenerateRequest r = in;
    const SamplerChoice sampler = resolve_sampler(r.sampler.empty() ? model.default_sampler : r.sampler, r.scheduler);
    r.sampler = std::string(sampler.spec->id);
    r.scheduler = schedule_name(*sampler.schedule);
    if (r.steps == 0) r.steps = model.default_steps;
    if (!r.cfg_scale) r.cfg_scale = model.default_cfg;
    if (r.init_pixels) {
        if (r.width == 0) r.width = int(r.init_pixels->shape[3]);
        if (r.height == 0) r.height = int(r.init_pixels->shape[2]);
    }
    if (r.init_image && (r.width == 0 || r.height == 0)) {
        // The canvas (after outpainting) decides; sizes round down to a multiple of 8.
        int w = r.init_image->width + r.outpaint[0] + r.outpaint[2];
        int h = r.init_image->height + r.outpaint[1] + r.outpaint[3];
        if (r.width == 0) r.width = std::max(8, w / 8 * 8);
        if (r.height == 0) r.height = std::max(8, h / 8 * 8);
    }
    if (r.width == 0) r.width = model.default_width;
    if (r.height == 0) r.height = model.default_height;
    if (r.seed == -1) r.seed = random_seed();  // other negatives are seeds >= 2^63 (seed.h)
    if (r.subseed_strength == 0.0f) r.subseed = -1;  // off: nothing to record
    else if (r.subseed == -1) r.subseed = random_seed();
    if (model.family.rfind("sdxl", 0) == 0) {
        if (!r.original_size) r.original_size = std::array<int, 2>{r.width, r.height};
        if (!r.target_size) r.target_size = std::array<int, 2>{r.width, r.height};
    }
    return {std::move(r), sampler};
}

}  // namespace sdpp
