// Hires-fix and prompt-schedule pieces without a model: the scheduled CFG denoiser (A1111
// combine_denoised with AND weights, the entry picked per call, batches split past the budget),
// the hires target size (A1111 calculate_target_resolution), the second pass's step counts, the
// latent upscalers' index rules, and the request JSON / infotext round trips of the hires fields.
#include "pipeline/pipeline.h"
#include "sample/latent_upscale.h"

#include <sdpp/sdpp.hpp>

#include <gtest/gtest.h>

using namespace sdpp;
using namespace sdpp::pipeline;

namespace {

// A context whose every value is v: the fake U-Net's eps for a batch item is its context's value.
Tensor ctx_of(float v) { return Tensor::full({1, 2, 3}, v); }

TEST(ScheduledDenoiser, CombinesAndPartsAndFollowsTheSchedule) {
    PromptConditioning pc;
    for (float v : {1.0f, 2.0f, 3.0f, 10.0f}) pc.entries.push_back({ctx_of(v), Tensor()});
    // part 0: entry 0 for calls 0..1, then entry 1; part 1 (weight 0.5): entry 2; negative: entry 3.
    pc.positive = {{1.0f, {{1, 0}, {4, 1}}}, {0.5f, {{4, 2}}}};
    pc.negative = {{4, 3}};
    ASSERT_TRUE(pc.scheduled());
    DiscreteSchedule sched = DiscreteSchedule::ldm();
    DenoiseSetup s;
    s.schedule = &sched;
    s.cfg_scale = 2.0f;
    s.cond = &pc;
    Ctx ctx;
    int unet_calls = 0;
    auto unet = [&](const Tensor& x_in, float, const Tensor& c, const Tensor&) {
        ++unet_calls;
        Tensor out = Tensor::empty(x_in.shape());
        const int64_t per = x_in.numel() / x_in.dim(0);
        for (int64_t b = 0; b < x_in.dim(0); ++b)
            for (int64_t i = 0; i < per; ++i) out.data<float>()[b * per + i] = c.data<float>()[b * c.numel() / c.dim(0)];
        return out;
    };
    DenoiseFn d = make_scheduled_denoiser(ctx, s, 1, unet);
    const Tensor x = Tensor::full({1, 4, 2, 2}, 0.5f);
    const float sigma = 2.0f;
    for (int call = 0; call < 4; ++call) {
        const float c0 = call <= 1 ? 1.0f : 2.0f;
        // eps denoiser: x - sigma * eps
        const float u = 0.5f - sigma * 10.0f, a = 0.5f - sigma * c0, b = 0.5f - sigma * 3.0f;
        const float want = u + (a - u) * (1.0f * 2.0f) + (b - u) * (0.5f * 2.0f);
        Tensor out = d(x, sigma);
        EXPECT_NEAR(out.data<float>()[0], want, 1e-4f) << "call " << call;
    }
    EXPECT_EQ(unet_calls, 4) << "parts and uncond go in one U-Net batch";
}

TEST(ScheduledDenoiser, SplitsLargeBatches) {
    PromptConditioning pc;
    for (float v : {1.0f, 2.0f, 3.0f, 4.0f}) pc.entries.push_back({ctx_of(v), Tensor()});
    pc.positive = {{1.0f, {{9, 0}}}, {1.0f, {{9, 1}}}, {1.0f, {{9, 2}}}};
    pc.negative = {{9, 3}};
    DiscreteSchedule sched = DiscreteSchedule::ldm();
    DenoiseSetup s;
    s.schedule = &sched;
    s.cfg_scale = 7.0f;
    s.cond = &pc;
    Ctx ctx;
    int calls = 0;
    int64_t max_batch = 0;
    auto unet = [&](const Tensor& x_in, float, const Tensor&, const Tensor&) {
        ++calls;
        max_batch = std::max(max_batch, x_in.dim(0));
        return Tensor::zeros(x_in.shape());
    };
    DenoiseFn d = make_scheduled_denoiser(ctx, s, 1, unet);
    d(Tensor::zeros({1, 4, 256, 256}), 1.0f);  // 4 items of 256x256 latent pixels: past the budget
    EXPECT_EQ(max_batch, 2);
    EXPECT_EQ(calls, 2);
}

TEST(Hires, TargetSizeAsA1111) {
    GenerateRequest r;
    r.width = 512;
    r.height = 768;
    r.steps = 20;
    r.hires = true;
    r.hires_scale = 1.5f;
    HiresPlan p = plan_hires(r, 8);
    EXPECT_EQ(p.upscale_w, 768);
    EXPECT_EQ(p.upscale_h, 1152);
    EXPECT_EQ(p.steps, 20);
    r.hires_width = 1024;  // height from the aspect
    p = plan_hires(r, 8);
    EXPECT_EQ(p.upscale_w, 1024);
    EXPECT_EQ(p.upscale_h, 1536);
    r.hires_height = 1024;  // both: cover, then crop the latent
    p = plan_hires(r, 8);
    EXPECT_EQ(p.upscale_w, 1024);
    EXPECT_EQ(p.upscale_h, 1536);
    EXPECT_EQ(p.truncate_y, 64);
    EXPECT_EQ(p.latent_w, 128);
    EXPECT_EQ(p.latent_h, 128);
    Tensor up = crop_hires_latent(Tensor::zeros({1, 4, 192, 128}), p);
    EXPECT_EQ(up.dim(2), 128);
    EXPECT_EQ(up.dim(3), 128);
}

TEST(Hires, SecondOrderSamplersCountCalls) {
    EXPECT_EQ(schedule_calls(SamplerKind::Euler, 20), 20);
    EXPECT_EQ(schedule_calls(SamplerKind::Heun, 20), 40);
    EXPECT_EQ(schedule_calls(SamplerKind::DpmppSde, 7), 14);
}

TEST(Hires, SecondPassSigmasAreTheTailOfTheLongerSchedule) {
    DiscreteSchedule sched = DiscreteSchedule::ldm();
    const SamplerChoice euler = resolve_sampler("Euler", "");
    std::vector<float> sig = hires_sigmas(euler, 8, 0.7f, sched);  // total int(8 / 0.7) = 11
    std::vector<float> full = full_sigmas(euler, 11, sched);
    ASSERT_EQ(sig.size(), 9u);
    EXPECT_EQ(sig.front(), full[3]);
    EXPECT_EQ(sig.back(), 0.0f);
    EXPECT_EQ(hires_sigmas(euler, 5, 1.0f, sched).size(), 6u);  // min(1, 0.999): int(5 / 0.999) = 5
}

TEST(LatentUpscale, IndexRules) {
    Tensor x = Tensor::from_vector(std::vector<float>{0, 1, 2}, {1, 1, 1, 3});
    LatentUpscaler nearest{LatentUpscaleMode::Nearest, false}, exact{LatentUpscaleMode::NearestExact, false};
    // torch: nearest 3 -> 4 takes floor(i * 0.75) = 0, 0, 1, 2; nearest-exact floor((i + 0.5) * 0.75) = 0, 1, 1, 2
    EXPECT_EQ(upscale_latent(x, 1, 4, nearest).to_vector(), (std::vector<float>{0, 0, 1, 2}));
    EXPECT_EQ(upscale_latent(x, 1, 4, exact).to_vector(), (std::vector<float>{0, 1, 1, 2}));
    // bilinear 3 -> 6 (align_corners=False): src = (i + 0.5) / 2 - 0.5 clamped at 0
    std::vector<float> bl = upscale_latent(x, 1, 6, {LatentUpscaleMode::Bilinear, false}).to_vector();
    std::vector<float> want = {0, 0.25f, 0.75f, 1.25f, 1.75f, 2};
    for (size_t i = 0; i < want.size(); ++i) EXPECT_NEAR(bl[i], want[i], 1e-6f);
    // upscaling: the antialiased bilinear is the plain one
    std::vector<float> aa = upscale_latent(x, 1, 6, {LatentUpscaleMode::Bilinear, true}).to_vector();
    for (size_t i = 0; i < want.size(); ++i) EXPECT_NEAR(aa[i], want[i], 1e-6f);
    LatentUpscaler u;
    EXPECT_TRUE(latent_upscaler_from_name("Latent (bicubic antialiased)", u));
    EXPECT_TRUE(u.antialias);
    EXPECT_FALSE(latent_upscaler_from_name("Lanczos", u));
}

TEST(HiresRequest, JsonAndInfotextRoundTrip) {
    GenerateRequest r = request_from_json(R"J({"prompt": "a", "enable_hr": true, "hr_scale": 1.5,
        "hr_upscaler": "Latent (nearest-exact)", "hr_second_pass_steps": 6, "denoising_strength": 0.55,
        "hr_sampler_name": "Euler a", "hr_prompt": "b", "hr_negative_prompt": "c"})J");
    EXPECT_TRUE(r.hires);
    EXPECT_FLOAT_EQ(r.hires_scale, 1.5f);
    EXPECT_FLOAT_EQ(r.hires_denoise, 0.55f);
    EXPECT_EQ(r.hires_steps, 6);
    EXPECT_EQ(r.hires_upscaler, "Latent (nearest-exact)");
    EXPECT_EQ(r.hires_prompt, "b");
    GenerateRequest back = request_from_json(request_to_json(r));
    EXPECT_TRUE(back.hires);
    EXPECT_FLOAT_EQ(back.hires_denoise, 0.55f);
    EXPECT_EQ(back.hires_negative_prompt, "c");

    r.steps = 10;
    r.sampler = "euler";
    r.width = r.height = 64;
    r.cfg_scale = 7.0f;
    ModelDescription md;
    const std::string text = format_parameters(r, md, 1, 0);
    for (const char* k : {"Denoising strength: 0.55", "Hires upscale: 1.5", "Hires steps: 6",
                          "Hires upscaler: Latent (nearest-exact)", "Hires sampler: Euler a", "Hires prompt: b"})
        EXPECT_NE(text.find(k), std::string::npos) << k << " in " << text;
    EXPECT_FALSE(parameters_are_img2img(text));
    GenerateRequest p = request_from_parameters(text);
    EXPECT_TRUE(p.hires);
    EXPECT_FLOAT_EQ(p.hires_denoise, 0.55f);
    EXPECT_EQ(p.hires_upscaler, "Latent (nearest-exact)");
    EXPECT_EQ(p.hires_sampler, "euler_a");
}

TEST(HiresRequest, BadValuesAreOneLineErrors) {
    GenerateRequest r;
    r.hires = true;
    r.hires_upscaler = "ESRGAN_4x";
    EXPECT_THROW(validate_request(r), Error);
    r.hires_upscaler = "Latent";
    r.hires_width = 1004;
    EXPECT_THROW(validate_request(r), Error);
    r.hires_width = 0;
    r.hires_denoise = 0;
    EXPECT_THROW(validate_request(r), Error);
    r.hires_denoise = 0.7f;
    r.init_image = Image::blank(8, 8);
    EXPECT_THROW(validate_request(r), Error);
}

}  // namespace
