// Denoiser scalings, classifier-free guidance, img2img truncation, inpaint blending, RNG semantics.
#include "common/schedule_diffusers.h"
#include "sample/denoiser.h"
#include "sample/img2img.h"
#include "sample/noise.h"
#include "sample/rng_torch.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstring>

using namespace sdpp;

namespace {

Tensor filled(const Shape& shape, float a, float b) {
    Tensor t = Tensor::empty(shape);
    for (int64_t i = 0; i < t.numel(); ++i) t.data<float>()[i] = a + b * std::cos(0.71f * float(i));
    return t;
}

double max_abs_diff(const Tensor& a, const Tensor& b) {
    double m = 0;
    for (int64_t i = 0; i < a.numel(); ++i) m = std::max(m, std::fabs(double(a.data<float>()[i]) - b.data<float>()[i]));
    return m;
}

bool identical(const Tensor& a, const Tensor& b) {
    return a.shape() == b.shape() && std::memcmp(a.data<float>(), b.data<float>(), size_t(a.numel()) * 4) == 0;
}

}  // namespace

// A network that predicts the true eps (or v) must give back x0 exactly.
TEST(SampleDenoiser, EpsAndVPredictionRecoverX0) {
    const DiscreteSchedule sched = DiscreteSchedule::ldm();
    const Shape shape{1, 4, 3, 3};
    const Tensor x0 = filled(shape, 0.1f, 0.9f), eps = filled(shape, -0.2f, 1.1f);
    for (float sigma : {0.05f, 1.0f, 7.5f, 14.0f}) {
        Tensor x = Tensor::empty(shape);
        for (int64_t i = 0; i < x.numel(); ++i) x.data<float>()[i] = x0.data<float>()[i] + sigma * eps.data<float>()[i];
        ModelFn eps_model = [&](const Tensor&, float) { return eps.clone(); };
        ModelFn v_model = [&](const Tensor&, float) {
            const double a = 1 / std::sqrt(1.0 + double(sigma) * sigma), s = sigma * a;  // alpha, sigma_vp
            Tensor v = Tensor::empty(shape);
            for (int64_t i = 0; i < v.numel(); ++i)
                v.data<float>()[i] = float(a * eps.data<float>()[i] - s * x0.data<float>()[i]);
            return v;
        };
        EXPECT_LT(max_abs_diff(make_denoiser(eps_model, sched)(x, sigma), x0), 2e-5 * (1 + sigma));
        EXPECT_LT(max_abs_diff(make_denoiser(v_model, sched, {.output = ModelOutput::V})(x, sigma), x0),
                  2e-5 * (1 + sigma));
    }
}

TEST(SampleDenoiser, ModelSeesScaledInputAndContinuousTimestep) {
    const DiscreteSchedule sched = DiscreteSchedule::ldm();
    const float sigma = sched.sigmas()[600];
    float seen_t = -1;
    Tensor seen;
    ModelFn m = [&](const Tensor& x_in, float t) {
        seen_t = t;
        seen = x_in.clone();
        return Tensor::zeros(x_in.shape());
    };
    const Tensor x = filled({1, 1, 2, 2}, 1.0f, 0.5f);
    const Tensor den = make_denoiser(m, sched)(x, sigma);
    EXPECT_NEAR(seen_t, 600.0f, 1e-3);
    EXPECT_NEAR(seen.data<float>()[0], x.data<float>()[0] / std::sqrt(1 + sigma * sigma), 1e-6);
    EXPECT_TRUE(identical(den, x));  // eps = 0: denoised = x
    (void)make_denoiser(m, sched, {.quantize_t = true})(x, sched.t_to_sigma(600.4));
    EXPECT_EQ(seen_t, 600.0f);
}

TEST(SampleDenoiser, GuidanceCombinesAndRescales) {
    const Shape shape{2, 2, 3, 3};
    const Tensor cond = filled(shape, 0.5f, 1.0f), uncond = filled(shape, -0.1f, 0.3f);
    EXPECT_LT(max_abs_diff(cfg_combine(cond, uncond, 1.0f), cond), 1e-7);
    EXPECT_LT(max_abs_diff(cfg_combine(cond, uncond, 0.0f), uncond), 1e-7);
    const Tensor g = cfg_combine(cond, uncond, 7.0f);
    EXPECT_NEAR(g.data<float>()[5], uncond.data<float>()[5] + 7 * (cond.data<float>()[5] - uncond.data<float>()[5]),
                1e-5);
    EXPECT_TRUE(identical(rescale_guidance(g, cond, 0.0f), g));
    // phi = 1: each batch item's std equals the conditional prediction's
    const Tensor r = rescale_guidance(g, cond, 1.0f);
    auto stdev = [](const Tensor& t, int64_t b, int64_t per) {
        double m = 0, v = 0;
        for (int64_t i = 0; i < per; ++i) m += t.data<float>()[b * per + i];
        m /= per;
        for (int64_t i = 0; i < per; ++i) v += std::pow(t.data<float>()[b * per + i] - m, 2);
        return std::sqrt(v / (per - 1));
    };
    for (int64_t b = 0; b < 2; ++b) EXPECT_NEAR(stdev(r, b, 18), stdev(cond, b, 18), 1e-5);
    GuidedModelFn two = [&](const Tensor&, float) { return CondUncond{cond, uncond}; };
    EXPECT_LT(max_abs_diff(make_guided_model(two, {.scale = 7.0f})(cond, 1.0f), g), 1e-6);
    EXPECT_THROW(make_guided_model(two, {.scale = 7.0f, .rescale = 2.0f}), Error);
}

TEST(SampleDenoiser, LcmBoundaryScalings) {
    double c_skip, c_out;
    lcm_scalings(0.0, 10.0, &c_skip, &c_out);
    EXPECT_DOUBLE_EQ(c_skip, 1.0);
    EXPECT_DOUBLE_EQ(c_out, 0.0);
    lcm_scalings(999.0, 10.0, &c_skip, &c_out);
    EXPECT_NEAR(c_skip, 0.25 / (9990.0 * 9990.0 + 0.25), 1e-15);
    EXPECT_NEAR(c_out, 1.0, 1e-8);
}

TEST(SampleImg2Img, A1111AndDiffusersTruncation) {
    std::vector<float> full{8, 7, 6, 5, 4, 3, 2, 1, 0};  // 8 steps
    // A1111: t_enc = int(0.5 * 8) = 4 -> sigmas[8 - 4 - 1:] = 5 steps
    EXPECT_EQ(a1111_img2img_sigmas(full, 0.5f), (std::vector<float>{5, 4, 3, 2, 1, 0}));
    // strength 1 is capped at 0.999: t_enc = 7 -> the whole schedule
    EXPECT_EQ(a1111_img2img_sigmas(full, 1.0f), full);
    EXPECT_EQ(a1111_img2img_sigmas(full, 0.0f), (std::vector<float>{1, 0}));
    // diffusers: int(8 * 0.5) = 4 steps -> sigmas[4:]
    EXPECT_EQ(diffusers_img2img_sigmas(full, 0.5f), (std::vector<float>{4, 3, 2, 1, 0}));
    EXPECT_EQ(diffusers_img2img_sigmas(full, 1.0f), full);
    EXPECT_EQ(diffusers_img2img_sigmas(full, 0.1f), (std::vector<float>{0}));
    EXPECT_THROW(a1111_img2img_sigmas(full, 1.5f), Error);
    EXPECT_THROW(diffusers_img2img_sigmas(full, -0.1f), Error);
}

TEST(SampleImg2Img, MaskBlendKeepsTheKnownRegion) {
    const Shape shape{1, 4, 2, 3};
    const Tensor x = filled(shape, 3.0f, 1.0f), init = filled(shape, -1.0f, 0.5f), noise = filled(shape, 0.0f, 1.0f);
    Tensor mask = Tensor::zeros({1, 1, 2, 3});
    mask.data<float>()[0] = 1.0f;  // regenerate pixel (0,0) only
    const Tensor b = blend_masked_latent(x, init, noise, mask, 2.0f);
    for (int64_t c = 0; c < 4; ++c)
        for (int64_t k = 0; k < 6; ++k) {
            const int64_t i = c * 6 + k;
            const float want = k == 0 ? x.data<float>()[i] : init.data<float>()[i] + 2.0f * noise.data<float>()[i];
            EXPECT_NEAR(b.data<float>()[i], want, 1e-6);
        }
    EXPECT_THROW(blend_masked_latent(x, init, noise, Tensor::zeros({1, 2, 2, 3}), 1.0f), Error);
    // inside a denoiser: the known region of the output is the original latent
    DenoiseFn inner = [](const Tensor& v, float) { return v.clone(); };
    const Tensor den = make_inpaint_denoiser(inner, init, noise, mask)(x, 1.0f);
    EXPECT_NEAR(den.data<float>()[1], init.data<float>()[1], 1e-7);
    EXPECT_NEAR(den.data<float>()[0], x.data<float>()[0], 1e-6);
}

TEST(SampleRng, SeedsUseTheLow32BitsAndStreamsContinue) {
    EXPECT_TRUE(identical(torch_randn({20}, 5), torch_randn({20}, (uint64_t(1) << 32) + 5)));
    EXPECT_FALSE(identical(torch_randn({20}, 5), torch_randn({20}, 6)));
    // successive draws from one generator continue the stream: randn(16) twice != randn(16) once
    TorchGenerator g(42);
    const Tensor a = g.randn({16}), b = g.randn({16});
    EXPECT_TRUE(identical(a, torch_randn({16}, 42)));
    EXPECT_FALSE(identical(a, b));
    // a [16] draw consumes 16 32-bit numbers: the second equals the tail of uniforms 16..31
    TorchGenerator h(42);
    for (int i = 0; i < 16; ++i) h.random();
    EXPECT_TRUE(identical(b, h.randn({16})));
    // scalar path (< 16) and vector path differ in algorithm
    EXPECT_NE(torch_randn({15}, 0).data<float>()[0], torch_randn({16}, 0).data<float>()[0]);
    // sample moments of a big draw
    const Tensor big = torch_randn({1, 4, 64, 64}, 3);
    double m = 0, v = 0;
    for (int64_t i = 0; i < big.numel(); ++i) m += big.data<float>()[i];
    m /= double(big.numel());
    for (int64_t i = 0; i < big.numel(); ++i) v += std::pow(big.data<float>()[i] - m, 2);
    v /= double(big.numel());
    EXPECT_NEAR(m, 0.0, 0.03);
    EXPECT_NEAR(v, 1.0, 0.03);
}

TEST(SampleRng, SubseedVariation) {
    const Shape shape{1, 4, 8, 8};
    EXPECT_TRUE(identical(torch_randn_variation(shape, 7, 99, 0.0f), torch_randn(shape, 7)));
    const Tensor full = torch_randn_variation(shape, 7, 99, 1.0f);
    EXPECT_LT(max_abs_diff(full, torch_randn(shape, 99)), 1e-4);
    const Tensor half = torch_randn_variation(shape, 7, 99, 0.5f);
    EXPECT_GT(max_abs_diff(half, torch_randn(shape, 7)), 0.1);
    EXPECT_GT(max_abs_diff(half, torch_randn(shape, 99)), 0.1);
    EXPECT_THROW(torch_randn_variation(shape, 7, 99, 1.5f), Error);
    // without variation, batch items use seed + i
    const Tensor batch = torch_randn_variation({2, 4, 8, 8}, 7, 99, 0.0f);
    EXPECT_EQ(batch.data<float>()[256], torch_randn({4, 8, 8}, 8).data<float>()[0]);
}
