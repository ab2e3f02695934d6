// The CFG denoiser for prompt editing, alternation and AND, as A1111's CFGDenoiser does it
// (modules/sd_samplers_cfg_denoiser.py forward + combine_denoised, prompt_parser.py
// reconstruct_cond_batch / reconstruct_multicond_batch):
//   - a call counter (0-based, restarted for every pass) picks each AND part's and the negative
//     prompt's conditioning for this call: the first schedule entry with call <= end_at_step;
//   - the U-Net runs every part's x and the unconditional x in one batch (split into several
//     calls only past kItemBudget latent pixels, which is what plain CFG at 1024x1024 uses);
//   - denoised = uncond, then denoised += (cond_j - uncond) * (weight_j * cfg_scale) per part, in
//     that order (float32), A1111's combine_denoised. Without CFG (scale 1) the first part's
//     output stands in for the unconditional one, as A1111's skip_uncond does.
#include "pipeline/pipeline.h"

#include "core/error.h"
#include "sample/latent_math.h"

#include <algorithm>
#include <memory>

namespace sdpp::pipeline {

namespace {
constexpr int64_t kItemBudget = 2 * 128 * 128;  // latent pixels x batch items per U-Net call
}

DenoiseFn make_scheduled_denoiser(Ctx& ctx, const DenoiseSetup& s, int64_t B, UNetCallFn unet_call) {
    SDPP_CHECK(s.cond && !s.cond->positive.empty(), "scheduled denoiser: no prompt schedule");
    auto call = std::make_shared<int>(0);
    DenoiserConfig dc;
    dc.output = s.prediction == Prediction::V ? ModelOutput::V : ModelOutput::Eps;
    return [&ctx, s, B, unet_call = std::move(unet_call), call, dc](const Tensor& x, float sigma) -> Tensor {
        const PromptConditioning& pc = *s.cond;
        const int k = (*call)++;
        const bool guided = s.cfg_scale != 1.0f && !pc.negative.empty();
        std::vector<int> entries;
        for (const PromptConditioning::Part& p : pc.positive) entries.push_back(cond_index_at(p.schedule, k));
        if (guided) entries.push_back(cond_index_at(pc.negative, k));
        const int64_t groups = int64_t(entries.size());
        const int64_t pixels = std::max<int64_t>(1, x.dim(2) * x.dim(3));
        const int64_t per_call = std::max<int64_t>(1, std::max<int64_t>(2 * B, kItemBudget / pixels) / B);
        const bool has_y = pc.entries[size_t(entries[0])].y.defined();

        std::vector<Tensor> outs(static_cast<size_t>(groups));
        for (int64_t g0 = 0; g0 < groups; g0 += per_call) {
            const int64_t g1 = std::min(groups, g0 + per_call);
            std::vector<Tensor> xs, cs, ys;
            for (int64_t g = g0; g < g1; ++g) {
                const PromptConditioning::Entry& e = pc.entries[size_t(entries[size_t(g)])];
                xs.push_back(x);
                cs.push_back(repeat_batch(ctx, e.context, B));
                if (has_y) ys.push_back(repeat_batch(ctx, e.y, B));
            }
            const Tensor contexts = cs.size() == 1 ? cs[0] : concat(ctx, cs, 0);
            const Tensor y = !has_y ? Tensor() : ys.size() == 1 ? ys[0] : concat(ctx, ys, 0);
            ModelFn model = [&](const Tensor& x_in, float t) { return unet_call(x_in, t, contexts, y); };
            DenoiseFn inner = make_denoiser(model, *s.schedule, dc);
            const Tensor xin = xs.size() == 1 ? x : concat(ctx, xs, 0);
            const Tensor d = inner(xin, sigma);
            for (int64_t g = g0; g < g1; ++g) outs[size_t(g)] = as_f32(d.slice(0, (g - g0) * B, (g - g0 + 1) * B).contiguous());
        }

        const Tensor& uncond = guided ? outs.back() : outs[0];
        Tensor out = Tensor::empty(x.shape());
        float* o = out.data<float>();
        const float* u = uncond.data<float>();
        const int64_t n = out.numel();
        std::copy_n(u, n, o);
        for (size_t j = 0; j < pc.positive.size(); ++j) {
            const float w = pc.positive[j].weight * s.cfg_scale;
            const float* c = outs[j].data<float>();
            for (int64_t i = 0; i < n; ++i) o[i] += (c[i] - u[i]) * w;
        }
        return out;
    };
}

}  // namespace sdpp::pipeline
