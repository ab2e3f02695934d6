// The denoiser a request's sampler calls, built the way A1111's CFGDenoiser
// (modules/sd_samplers_cfg_denoiser.py) wraps k-diffusion's CompVisDenoiser / CompVisVDenoiser:
//   - cond and uncond run as ONE U-Net batch [x, x] with contexts [cond, uncond] (and SDXL y
//     vectors alike); the two denoised halves combine as uncond + scale * (cond - uncond);
//     cfg_scale == 1 runs the cond half only;
//   - 9-channel inpainting models get cat([x * c_in, mask, masked-image latent]) as input
//     (the concat happens after k-diffusion scaled x);
//   - ordinary models with a mask: denoised = init * keep + denoised * (1 - keep) every step
//     (A1111 mask_before_denoising = False) and the same blend on the final latent.
// The eps/v scalings, continuous timestep and samplers themselves are src/sample's.
#include "pipeline/pipeline.h"

#include "core/error.h"

namespace sdpp::pipeline {

namespace {

// init * keep + x * (1 - keep); keep [1, 1, h, w] broadcasts over batch and channels.
Tensor blend_keep(Ctx& ctx, const Tensor& x, const Tensor& init, const Tensor& keep) {
    Tensor repaint = scale(ctx, keep, -1.0f, 1.0f);  // 1 - keep
    return add(ctx, mul(ctx, init, keep), mul(ctx, x, repaint));
}

}  // namespace

Tensor run_sampling(Ctx& ctx, const DenoiseSetup& s, const SamplerChoice& sampler, float eta, Tensor x,
                    const std::vector<float>& sigmas, NoiseSource& noise, const StepReporter& report) {
    SDPP_CHECK(s.unet && s.schedule && s.cond, "run_sampling: incomplete setup");
    const UNet& unet = *s.unet;
    const int64_t B = x.dim(0);
    const bool guided = s.cfg_scale != 1.0f;
    const PromptConditioning& pc = *s.cond;
    SDPP_CHECK(!guided || pc.uncond.defined(), "run_sampling: CFG needs the negative prompt's conditioning");

    // Contexts and adm vectors for a batch of B (cond only) and of 2B ([cond] * B + [uncond] * B).
    auto both = [&](const Tensor& c, const Tensor& u) {
        std::vector<Tensor> parts = {repeat_batch(ctx, c, B), repeat_batch(ctx, u, B)};
        return concat(ctx, parts, 0);
    };
    const Tensor ctx1 = repeat_batch(ctx, pc.cond, B);
    const Tensor ctx2 = guided ? both(pc.cond, pc.uncond) : Tensor();
    const bool has_y = pc.cond_y.defined();
    const Tensor y1 = has_y ? repeat_batch(ctx, pc.cond_y, B) : Tensor();
    const Tensor y2 = has_y && guided ? both(pc.cond_y, pc.uncond_y) : Tensor();
    const LatentInputs* lat = s.latents;
    const bool concat_in = lat && lat->c_concat.defined();
    SDPP_CHECK(!concat_in || unet.cfg.in_channels == x.dim(1) + lat->c_concat.dim(1), "the U-Net takes ",
               unet.cfg.in_channels, " input channels, but latent + inpainting conditioning have ",
               x.dim(1) + (concat_in ? lat->c_concat.dim(1) : 0));
    SDPP_CHECK(concat_in || unet.cfg.in_channels == x.dim(1), "the U-Net takes ", unet.cfg.in_channels,
               " input channels (an inpainting model?) but the latent has ", x.dim(1));
    const Tensor cc1 = concat_in ? repeat_batch(ctx, lat->c_concat, B) : Tensor();
    const Tensor cc2 = concat_in && guided ? repeat_batch(ctx, lat->c_concat, 2 * B) : Tensor();

    ModelFn model = [&](const Tensor& x_in, float t) -> Tensor {
        const bool doubled = x_in.dim(0) == 2 * B && guided;
        Tensor inp = x_in;
        if (concat_in) {
            std::vector<Tensor> parts = {x_in, doubled ? cc2 : cc1};
            inp = concat(ctx, parts, 1);
        }
        Tensor tt = Tensor::full({x_in.dim(0)}, t);
        return unet.forward(ctx, inp, tt, doubled ? ctx2 : ctx1, has_y ? (doubled ? y2 : y1) : Tensor());
    };
    DenoiserConfig dc;
    dc.output = s.prediction == Prediction::V ? ModelOutput::V : ModelOutput::Eps;
    DenoiseFn inner = make_denoiser(model, *s.schedule, dc);

    const bool blend = lat && lat->keep_mask.defined();
    SDPP_CHECK(!blend || s.init_latent.defined(), "run_sampling: mask blending needs the init latent");
    // Prompt editing / alternation / AND: contexts chosen per call (sampling_multicond.cpp).
    DenoiseFn scheduled;
    if (pc.scheduled()) {
        scheduled = make_scheduled_denoiser(ctx, s, B, [&](const Tensor& x_in, float t, const Tensor& c, const Tensor& y) {
            Tensor inp = x_in;
            if (concat_in) {
                std::vector<Tensor> parts = {x_in, repeat_batch(ctx, lat->c_concat, x_in.dim(0))};
                inp = concat(ctx, parts, 1);
            }
            return unet.forward(ctx, inp, Tensor::full({x_in.dim(0)}, t), c, y);
        });
    }
    DenoiseFn denoise = [&](const Tensor& xx, float sigma) -> Tensor {
        Tensor d;
        if (scheduled) {
            d = scheduled(xx, sigma);
        } else if (!guided) {
            d = inner(xx, sigma);
        } else {
            std::vector<Tensor> parts = {xx, xx};
            Tensor d2 = inner(concat(ctx, parts, 0), sigma);  // [2B, C, h, w]: cond half, uncond half
            d = cfg_combine(d2.slice(0, 0, B), d2.slice(0, B, 2 * B), s.cfg_scale);
        }
        if (blend) d = blend_keep(ctx, d, s.init_latent, lat->keep_mask);
        return d;
    };

    SamplerOptions opt = sampler.options();
    opt.eta = eta;
    const int total = int(sigmas.size()) - 1;
    StepCallback cb;
    if (report) cb = [&](const StepInfo& info) { report(StepReport{info.i, total, info.x}); };
    Tensor out = run_sampler(sampler.kind(), denoise, std::move(x), sigmas, noise, opt, cb);
    if (blend) out = blend_keep(ctx, out, s.init_latent, lat->keep_mask);
    return out;
}

}  // namespace sdpp::pipeline
