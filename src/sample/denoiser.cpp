// eps / v denoiser scalings, classifier-free guidance (see denoiser.h).
#include "sample/denoiser.h"

#include "sample/latent_math.h"

#include <cmath>

namespace sdpp {

Scalings eps_scalings(double sigma) { return {1.0, -sigma, 1.0 / std::sqrt(sigma * sigma + 1.0)}; }

Scalings v_scalings(double sigma) {
    const double d = sigma * sigma + 1.0;  // sigma_data = 1
    return {1.0 / d, -sigma / std::sqrt(d), 1.0 / std::sqrt(d)};
}

Scalings scalings_for(ModelOutput kind, double sigma) {
    return kind == ModelOutput::V ? v_scalings(sigma) : eps_scalings(sigma);
}

Tensor scale_model_input(const Tensor& x, double sigma) { return lincomb({{eps_scalings(sigma).c_in, x}}); }

Tensor denoised_from_output(ModelOutput kind, const Tensor& x, double sigma, const Tensor& model_out) {
    const Scalings s = scalings_for(kind, sigma);
    SDPP_CHECK(model_out.shape() == x.shape(), "denoiser: model output ", model_out.shape_str(),
               " does not match the latent ", x.shape_str());
    return lincomb({{s.c_skip, x}, {s.c_out, model_out}});
}

DenoiseFn make_denoiser(ModelFn model, const DiscreteSchedule& schedule, DenoiserConfig cfg) {
    SDPP_CHECK(model != nullptr, "make_denoiser: no model function");
    return [model = std::move(model), schedule, cfg](const Tensor& x, float sigma) -> Tensor {
        SDPP_CHECK(sigma > 0.0f && std::isfinite(sigma), "denoiser: sigma must be positive and finite, got ", sigma);
        const double t = cfg.quantize_t ? double(schedule.sigma_to_t_quantized(sigma)) : schedule.sigma_to_t(sigma);
        const Scalings s = scalings_for(cfg.output, sigma);
        const Tensor out = model(lincomb({{s.c_in, x}}), float(t));
        return denoised_from_output(cfg.output, x, sigma, out);
    };
}

Tensor cfg_combine(const Tensor& cond, const Tensor& uncond, float scale) {
    return lincomb({{1.0 - double(scale), uncond}, {double(scale), cond}});
}

Tensor rescale_guidance(const Tensor& guided_in, const Tensor& cond_in, float phi) {
    SDPP_CHECK(guided_in.shape() == cond_in.shape() && guided_in.ndim() >= 2,
               "rescale_guidance: expected two [N,...] tensors of one shape, got ", guided_in.shape_str(), " and ",
               cond_in.shape_str());
    Tensor guided = as_f32(guided_in), cond = as_f32(cond_in);
    Tensor out = Tensor::empty(guided.shape());
    const int64_t n = guided.dim(0), per = guided.numel() / std::max<int64_t>(n, 1);
    SDPP_CHECK(per >= 2, "rescale_guidance: need at least 2 elements per batch item");
    auto stdev = [per](const float* p) {
        double mean = 0;
        for (int64_t i = 0; i < per; ++i) mean += p[i];
        mean /= double(per);
        double var = 0;
        for (int64_t i = 0; i < per; ++i) var += (p[i] - mean) * (p[i] - mean);
        return std::sqrt(var / double(per - 1));
    };
    for (int64_t b = 0; b < n; ++b) {
        const float* g = guided.data<float>() + b * per;
        const float* c = cond.data<float>() + b * per;
        float* o = out.data<float>() + b * per;
        const double sg = stdev(g), sc = stdev(c);
        const double ratio = sg > 0 ? sc / sg : 1.0;
        for (int64_t i = 0; i < per; ++i) o[i] = float(phi * (g[i] * ratio) + (1.0 - phi) * g[i]);
    }
    return out;
}

ModelFn make_guided_model(GuidedModelFn model, Guidance g) {
    SDPP_CHECK(model != nullptr, "make_guided_model: no model function");
    SDPP_CHECK(std::isfinite(g.scale), "guidance scale must be finite");
    SDPP_CHECK(g.rescale >= 0.0f && g.rescale <= 1.0f, "guidance rescale ", g.rescale, " is outside [0, 1]");
    return [model = std::move(model), g](const Tensor& x_in, float t) -> Tensor {
        CondUncond r = model(x_in, t);
        SDPP_CHECK(r.cond.shape() == x_in.shape() && r.uncond.shape() == x_in.shape(),
                   "guided model: outputs ", r.cond.shape_str(), " / ", r.uncond.shape_str(), " do not match input ",
                   x_in.shape_str());
        Tensor out = cfg_combine(r.cond, r.uncond, g.scale);
        if (g.rescale > 0.0f) out = rescale_guidance(out, r.cond, g.rescale);
        return out;
    };
}

}  // namespace sdpp
