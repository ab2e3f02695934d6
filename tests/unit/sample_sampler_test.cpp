// Sampler properties: ancestral splits, eta = 0 reductions, convergence on denoisers with a known
// answer, determinism, and the name registry.
#include "sample/sampler_registry.h"
#include "sample/samplers.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <string>

using namespace sdpp;

namespace {

const SamplerKind kAll[] = {SamplerKind::Euler,      SamplerKind::EulerAncestral,   SamplerKind::Heun,
                            SamplerKind::Dpm2,       SamplerKind::Dpm2Ancestral,    SamplerKind::Lms,
                            SamplerKind::Dpmpp2sAncestral, SamplerKind::DpmppSde,   SamplerKind::Dpmpp2m,
                            SamplerKind::Dpmpp2mSde, SamplerKind::Dpmpp3mSde,       SamplerKind::Ddim,
                            SamplerKind::Plms,       SamplerKind::UniPC,            SamplerKind::Lcm};

const SamplerKind kDeterministic[] = {SamplerKind::Euler, SamplerKind::Heun,    SamplerKind::Dpm2,
                                      SamplerKind::Lms,   SamplerKind::Dpmpp2m, SamplerKind::Ddim,
                                      SamplerKind::Plms,  SamplerKind::UniPC};

Tensor ramp(const Shape& shape, float a, float b) {
    Tensor t = Tensor::empty(shape);
    for (int64_t i = 0; i < t.numel(); ++i) t.data<float>()[i] = a + b * std::sin(0.37f * float(i) + 0.1f);
    return t;
}

bool identical(const Tensor& a, const Tensor& b) {
    return a.shape() == b.shape() && std::memcmp(a.data<float>(), b.data<float>(), size_t(a.numel()) * 4) == 0;
}

double max_abs_diff(const Tensor& a, const Tensor& b) {
    double m = 0;
    for (int64_t i = 0; i < a.numel(); ++i) m = std::max(m, std::fabs(double(a.data<float>()[i]) - b.data<float>()[i]));
    return m;
}

std::vector<float> karras(int n) { return karras_sigmas(n, 0.0291675, 14.614642, 7.0); }

}  // namespace

TEST(SampleSamplers, AncestralStepSplitsTheVariance) {
    for (double eta : {0.0, 0.3, 1.0, 1.7})
        for (auto [from, to] : {std::pair{14.6, 9.1}, {1.0, 0.5}, {0.1, 0.03}, {2.0, 0.0}}) {
            const AncestralStep a = get_ancestral_step(from, to, eta);
            EXPECT_NEAR(a.sigma_down * a.sigma_down + a.sigma_up * a.sigma_up, to * to, 1e-12 * (1 + to * to));
            EXPECT_LE(a.sigma_up, to);
            EXPECT_GE(a.sigma_down, 0.0);
            if (eta == 0.0) {
                EXPECT_EQ(a.sigma_down, to);
                EXPECT_EQ(a.sigma_up, 0.0);
            }
        }
}

TEST(SampleSamplers, EtaZeroAncestralAndDdimEqualEuler) {
    const Tensor x0 = ramp({1, 4, 6, 5}, 0.0f, 14.6f);
    const std::vector<float> sig = karras(8);
    DenoiseFn model = [](const Tensor& x, float sigma) {
        Tensor d = Tensor::empty(x.shape());
        for (int64_t i = 0; i < x.numel(); ++i)
            d.data<float>()[i] = 0.5f * x.data<float>()[i] / (1 + sigma) + 0.1f * std::tanh(x.data<float>()[i]);
        return d;
    };
    SeededNoise n1(1), n2(2), n3(3);
    SamplerOptions o;
    o.eta = 0.0f;
    const Tensor e = sample_euler(model, x0, sig, n1, o);
    const Tensor a = sample_euler_ancestral(model, x0, sig, n2, o);
    const Tensor d = sample_ddim(model, x0, sig, n3, o);  // ddim_eta defaults to 0
    EXPECT_TRUE(identical(e, a)) << max_abs_diff(e, a);
    EXPECT_LT(max_abs_diff(e, d), 1e-5);
}

// With a denoiser that always answers x0, every sampler must end exactly on x0 at sigma 0, and
// Euler keeps (x - x0) / sigma constant along the way.
TEST(SampleSamplers, EverySamplerLandsOnAKnownX0) {
    const Shape shape{1, 4, 5, 7};
    const Tensor target = ramp(shape, 0.2f, 0.8f);
    const Tensor start = ramp(shape, 0.0f, 14.6f);
    DenoiseFn oracle = [&](const Tensor&, float) { return target.clone(); };
    for (SamplerKind k : kAll) {
        SCOPED_TRACE(std::string(sampler_spec(k).id));
        SeededNoise noise(7);
        std::vector<float> sig = karras(12);
        const Tensor out = run_sampler(k, oracle, start, sig, noise);
        EXPECT_LT(max_abs_diff(out, target), 1e-5);
    }
    SeededNoise noise(7);
    const std::vector<float> sig = karras(12);
    std::vector<double> ratio;
    sample_euler(oracle, start, sig, noise, {}, [&](const StepInfo& s) {
        ratio.push_back((double(s.x.data<float>()[3]) - target.data<float>()[3]) / s.sigma);
    });
    ASSERT_EQ(ratio.size(), 12u);
    for (double r : ratio) EXPECT_NEAR(r, ratio[0], 1e-5 * std::fabs(ratio[0]));
}

// Gaussian data N(mu, s^2) per element: denoised = mu + s^2/(s^2+sigma^2) (x - mu), and the
// probability-flow ODE ends at mu + (x_T - mu) s / sqrt(s^2 + sigma_T^2). Deterministic samplers
// must converge to it, and doubling the steps must shrink the error at their order.
TEST(SampleSamplers, DeterministicSamplersConvergeToTheOdeSolution) {
    const Shape shape{1, 2, 3, 4};
    const double mu = 0.3, sd = 0.5;
    const Tensor xT = ramp(shape, 0.0f, 14.6f);
    DenoiseFn gauss = [&](const Tensor& x, float sigma) {
        Tensor d = Tensor::empty(x.shape());
        const double c = sd * sd / (sd * sd + double(sigma) * sigma);
        for (int64_t i = 0; i < x.numel(); ++i) d.data<float>()[i] = float(mu + c * (x.data<float>()[i] - mu));
        return d;
    };
    for (SamplerKind k : kDeterministic) {
        SCOPED_TRACE(std::string(sampler_spec(k).id));
        double err[2];
        for (int j = 0; j < 2; ++j) {
            const std::vector<float> sig = karras(j == 0 ? 20 : 40);
            Tensor expect = Tensor::empty(shape);
            const double s0 = sig[0];
            for (int64_t i = 0; i < xT.numel(); ++i)
                expect.data<float>()[i] = float(mu + (xT.data<float>()[i] - mu) * sd / std::sqrt(sd * sd + s0 * s0));
            SeededNoise noise(1);
            err[j] = max_abs_diff(run_sampler(k, gauss, xT, sig, noise), expect);
        }
        // first order: the error halves with twice the steps; the others shrink at least 3x
        const bool first_order = k == SamplerKind::Euler || k == SamplerKind::Ddim;
        EXPECT_LT(err[1], first_order ? 3e-2 : 1e-3);
        EXPECT_LT(err[1], (first_order ? 0.6 : 0.3) * err[0]);
    }
}

TEST(SampleSamplers, SameSeedSameOutput) {
    const Tensor x0 = ramp({1, 4, 4, 4}, 0.0f, 14.6f);
    DenoiseFn model = [](const Tensor& x, float sigma) {
        Tensor d = Tensor::empty(x.shape());
        for (int64_t i = 0; i < x.numel(); ++i) d.data<float>()[i] = 0.7f * std::tanh(x.data<float>()[i]) / (1 + sigma);
        return d;
    };
    for (SamplerKind k : kAll) {
        SCOPED_TRACE(std::string(sampler_spec(k).id));
        SeededNoise a(1234), b(1234), c(99);
        const std::vector<float> sig = karras(6);
        const Tensor ra = run_sampler(k, model, x0, sig, a), rb = run_sampler(k, model, x0, sig, b);
        EXPECT_TRUE(identical(ra, rb));
        const Tensor rc = run_sampler(k, model, x0, sig, c);
        const bool stochastic = k == SamplerKind::EulerAncestral || k == SamplerKind::Dpm2Ancestral ||
                                k == SamplerKind::Dpmpp2sAncestral || k == SamplerKind::DpmppSde ||
                                k == SamplerKind::Dpmpp2mSde || k == SamplerKind::Dpmpp3mSde || k == SamplerKind::Lcm;
        EXPECT_EQ(identical(ra, rc), !stochastic);
    }
}

TEST(SampleSamplers, BadInputsThrow) {
    DenoiseFn model = [](const Tensor& x, float) { return x.clone(); };
    const Tensor x = ramp({1, 1, 2, 2}, 0, 1);
    SeededNoise noise(0);
    const std::vector<float> with_zero_inside{5.0f, 0.0f, 1.0f, 0.0f};
    EXPECT_THROW(sample_euler(model, x, with_zero_inside, noise), Error);
    EXPECT_THROW(sample_euler(model, x, std::vector<float>{}, noise), Error);
    DenoiseFn wrong_shape = [](const Tensor&, float) { return Tensor::zeros({3}); };
    EXPECT_THROW(sample_dpmpp_2m(wrong_shape, x, karras(3), noise), Error);
    NoiseList empty(std::vector<Tensor>{});
    EXPECT_THROW(sample_euler_ancestral(model, x, karras(3), empty), Error);
}

TEST(SampleSamplers, NamesUsersKnow) {
    auto c = sampler_from_name("DPM++ 2M Karras");
    EXPECT_EQ(c.kind(), SamplerKind::Dpmpp2m);
    EXPECT_EQ(c.schedule, ScheduleKind::Karras);
    c = sampler_from_name("Euler a");
    EXPECT_EQ(c.kind(), SamplerKind::EulerAncestral);
    EXPECT_FALSE(c.schedule.has_value());
    EXPECT_EQ(sampler_from_name("euler_ancestral").kind(), SamplerKind::EulerAncestral);
    EXPECT_EQ(sampler_from_name("euler_a").kind(), SamplerKind::EulerAncestral);
    EXPECT_EQ(sampler_from_name("dpmpp_2m").kind(), SamplerKind::Dpmpp2m);
    EXPECT_FALSE(sampler_from_name("dpmpp_2m").schedule.has_value());
    EXPECT_EQ(sampler_from_name("dpmpp_2m_sde_gpu").kind(), SamplerKind::Dpmpp2mSde);
    c = sampler_from_name("DPM++ 2M SDE Heun");
    EXPECT_EQ(c.kind(), SamplerKind::Dpmpp2mSde);
    EXPECT_EQ(c.options().sde_solver, SdeSolver::Heun);
    EXPECT_EQ(c.schedule, ScheduleKind::Exponential);
    c = sampler_from_name("DPM2");
    EXPECT_TRUE(c.spec->discard_penultimate_sigma);
    EXPECT_FALSE(sampler_from_name("dpm2").spec->discard_penultimate_sigma);
    EXPECT_EQ(sampler_from_name("uni_pc").options().unipc_variant, UniPCVariant::BH1);
    EXPECT_EQ(sampler_from_name("uni_pc").options().unipc_order, 3);
    EXPECT_EQ(sampler_from_name("unipc").options().unipc_variant, UniPCVariant::BH2);
    EXPECT_EQ(sampler_from_name("unipc").options().unipc_order, 2);
    EXPECT_EQ(sampler_from_name("UniPC").spec->id, "uni_pc");
    // "<label> <schedule label>" and "<id>_<schedule>" name a schedule too.
    EXPECT_EQ(sampler_from_name("DPM2 a Exponential").spec->id, "dpm2_a_discard");
    EXPECT_EQ(sampler_from_name("DPM2 a Exponential").schedule, ScheduleKind::Exponential);
    EXPECT_EQ(sampler_from_name("dpm2_a_exponential").spec->id, "dpm2_a");
    // A resolved choice always has a schedule: the explicit one, the name's, else normal.
    EXPECT_EQ(resolve_sampler("dpmpp_2m", "").schedule, ScheduleKind::Normal);
    EXPECT_EQ(resolve_sampler("DPM++ 2M", "Automatic").schedule, ScheduleKind::Karras);
    EXPECT_EQ(resolve_sampler("DPM++ 2M", "sgm_uniform").schedule, ScheduleKind::SgmUniform);
    EXPECT_EQ(sampler_from_name("LCM").kind(), SamplerKind::Lcm);
    EXPECT_EQ(sampler_from_name("PLMS").kind(), SamplerKind::Plms);
    for (SamplerKind k : kAll) EXPECT_EQ(sampler_from_name(sampler_spec(k).id).kind(), k);
    try {
        sampler_from_name("euler_b");
        FAIL() << "no error for an unknown sampler";
    } catch (const Error& e) {
        const std::string msg = e.what();
        EXPECT_NE(msg.find("euler_b"), std::string::npos);
        EXPECT_NE(msg.find("dpmpp_2m"), std::string::npos);
        EXPECT_NE(msg.find("DPM++ 2M Karras"), std::string::npos);
    }
}

TEST(SampleSamplers, A1111DiscardsTheNextToLastSigma) {
    const DiscreteSchedule s = DiscreteSchedule::ldm();
    const SamplerChoice c = sampler_from_name("DPM2 a");
    const std::vector<float> sig = sigmas_for(c, s, 10);
    const std::vector<float> full = make_sigmas(s, ScheduleKind::Karras, 11);
    ASSERT_EQ(sig.size(), 11u);
    EXPECT_EQ(sig[9], full[9]);
    EXPECT_EQ(sig[10], 0.0f);
    EXPECT_EQ(sigmas_for(sampler_from_name("euler"), s, 10), s.get_sigmas(10));
}
