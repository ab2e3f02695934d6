// Parity: sampler trajectories (samplers.safetensors). Every entry of the manifest's
// samplers.kdiff.samplers (k-diffusion functions on the closed-form denoiser) and
// samplers.diffusers.runs (diffusers scheduler loops on the closed-form eps model) is a case; a
// function, class or keyword this test does not know is a failed case. Everything is rebuilt here
// from our own code: the Karras sigmas, x_init from our torch RNG, diffusers timesteps, and the
// stored noise list (checked to be our seeded torch noise). The seeds are the manifest's
// samplers.{kdiff,diffusers}.{x_init_seed,noise_seed}; the latent shape is that of the stored base
// noise. Trajectories, denoised outputs and the final latent must match within 1e-5 relative (per
// step, relative to that step's largest value).
#include "parity/sample_fixtures.h"
#include "sample/rng_torch.h"
#include "sample/samplers.h"
#include "sample/schedule.h"
#include "common/schedule_diffusers.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <map>
#include <sstream>
#include <string>

using namespace sdpp;
using namespace sdpp::testing;

namespace {

constexpr double kRelTol = 1e-5;

// Serves the stored noise in order; past the end it serves zeros and counts them as extra draws
// (the outputs would then disagree if such noise mattered).
class TestNoise final : public NoiseSource {
public:
    explicit TestNoise(const Tensor& stacked) {
        for (int64_t k = 0; k < stacked.dim(0); ++k) list_.push_back(stacked.select(0, k).contiguous());
    }
    Tensor next(const Shape& shape, float, float) override {
        if (used_ < list_.size()) {
            SDPP_CHECK(list_[used_].shape() == shape, "noise shape mismatch");
            return list_[used_++];
        }
        ++extra_;
        return Tensor::zeros(shape);
    }
    size_t used() const { return used_; }
    size_t extra() const { return extra_; }
    size_t size() const { return list_.size(); }

private:
    std::vector<Tensor> list_;
    size_t used_ = 0, extra_ = 0;
};

struct Recorded {
    std::vector<Tensor> x, den;
    std::vector<float> model_sigmas;
    Tensor out;
};

Tensor map_f32(const Tensor& x, const std::function<double(double)>& f) {
    Tensor in = x.to(DType::F32).contiguous(), out = Tensor::empty(x.shape());
    for (int64_t i = 0; i < in.numel(); ++i) out.data<float>()[i] = float(f(in.data<float>()[i]));
    return out;
}

Tensor scaled(const Tensor& x, double c) {
    return map_f32(x, [c](double v) { return v * c; });
}

// Appends "what: report" to `err` when `actual` and `expected` differ beyond kRelTol.
void check(std::ostringstream& err, const Tensor& actual, const Tensor& expected, const std::string& what) {
    auto r = compare(actual, expected, kRelTol, 0, what);
    if (!r.ok) err << r.report << "\n";
}

bool bit_equal(const Tensor& a, const Tensor& b) {
    if (a.shape() != b.shape()) return false;
    std::vector<float> x = a.to_vector(), y = b.to_vector();
    return std::memcmp(x.data(), y.data(), x.size() * sizeof(float)) == 0;
}

// The stored noise lists are successive randn(<latent shape>) draws of Generator().manual_seed(seed)
// (seed = the manifest's noise_seed); check that our seeded noise source reproduces them bit for bit.
void check_noise_is_seeded_stream(std::ostringstream& err, const Tensor& stacked, uint64_t seed) {
    SeededNoise ours(seed);
    for (int64_t k = 0; k < stacked.dim(0); ++k) {
        Tensor want = stacked.select(0, k).contiguous();
        if (!bit_equal(ours.next(want.shape(), 0, 0), want)) {
            err << "stored noise " << k << " is not draw " << k << " of our SeededNoise(" << seed << ")\n";
            return;
        }
    }
}

// The manifest's seed `key` of one sampler family (samplers.kdiff or samplers.diffusers).
uint64_t seed_of(const nlohmann::json& doc, const char* key) {
    SDPP_CHECK(doc.contains(key) && doc.at(key).is_number_unsigned(), "the manifest gives no seed '", key,
               "' (a non-negative integer)");
    return doc.at(key).get<uint64_t>();
}

// x_init's base noise: randn(shape of the stored base noise, x_init_seed); appends to `err` when it
// differs from the stored one in any bit.
Tensor base_noise(std::ostringstream& err, const SafetensorsFile& f, const std::string& family,
                  const nlohmann::json& doc) {
    const uint64_t seed = seed_of(doc, "x_init_seed");
    const Tensor stored = f.get(family + ".base_noise");
    const Tensor base = torch_randn(stored.shape(), seed);
    if (!bit_equal(base, stored))
        err << "base noise differs from torch randn(seed " << seed << ")\n";
    return base;
}

// ---------------- k-diffusion cases ----------------

SamplerKind kdiff_kind(const std::string& fn) {
    static const std::map<std::string, SamplerKind> m = {
        {"sample_euler", SamplerKind::Euler},
        {"sample_euler_ancestral", SamplerKind::EulerAncestral},
        {"sample_heun", SamplerKind::Heun},
        {"sample_dpm_2", SamplerKind::Dpm2},
        {"sample_dpm_2_ancestral", SamplerKind::Dpm2Ancestral},
        {"sample_lms", SamplerKind::Lms},
        {"sample_dpmpp_2s_ancestral", SamplerKind::Dpmpp2sAncestral},
        {"sample_dpmpp_sde", SamplerKind::DpmppSde},
        {"sample_dpmpp_2m", SamplerKind::Dpmpp2m},
        {"sample_dpmpp_2m_sde", SamplerKind::Dpmpp2mSde},
        {"sample_dpmpp_3m_sde", SamplerKind::Dpmpp3mSde},
    };
    auto it = m.find(fn);
    SDPP_CHECK(it != m.end(), "unknown k-diffusion function '", fn, "'");
    return it->second;
}

SamplerOptions kdiff_options(const nlohmann::json& kwargs) {
    SamplerOptions o;
    for (const auto& [k, v] : kwargs.items()) {
        if (k == "noise_sampler") SDPP_CHECK(v == "NoiseList", "unknown noise_sampler ", v.dump());
        else if (k == "eta") o.eta = v.get<float>();
        else if (k == "s_churn") o.s_churn = v.get<float>();
        else if (k == "s_noise") o.s_noise = v.get<float>();
        else if (k == "solver_type") {
            const std::string s = v.get<std::string>();
            SDPP_CHECK(s == "heun" || s == "midpoint", "unknown solver_type ", s);
            o.sde_solver = s == "heun" ? SdeSolver::Heun : SdeSolver::Midpoint;
        } else throw Error("unsupported k-diffusion keyword '" + k + "'");
    }
    return o;
}

// denoised(x, sigma) = 0.5 * x / (1 + sigma) + 0.1 * tanh(x)
Tensor kdiff_closed_form(const Tensor& x, float sigma) {
    const double s = sigma;
    return map_f32(x, [s](double v) { return 0.5 * v / (1.0 + s) + 0.1 * std::tanh(v); });
}

std::string run_kdiff_case(const std::string& name, const nlohmann::json& spec, const nlohmann::json& doc,
                           const SafetensorsFile& f) {
    std::ostringstream err;
    const int steps = doc.at("steps").get<int>();
    // sigmas: get_sigmas_karras(steps, sigma_min, sigma_max, rho=7) of the SD discrete schedule
    const DiscreteSchedule sched = DiscreteSchedule::ldm();
    const std::vector<float> sigmas = karras_sigmas(steps, sched.sigma_min(), sched.sigma_max(), 7.0);
    check(err, Tensor::from_vector(sigmas, {int64_t(sigmas.size())}), f.get("kdiff.sigmas"), "sigmas");
    // x_init = randn(shape, x_init_seed) * sigmas[0]
    const Tensor base = base_noise(err, f, "kdiff", doc);
    const Tensor x0 = scaled(base, sigmas[0]);
    check(err, x0, f.get("kdiff.x_init"), "x_init");

    const std::string pre = "kdiff." + name + ".";
    const Tensor noise_stack = f.get(pre + "noise");
    check_noise_is_seeded_stream(err, noise_stack, seed_of(doc, "noise_seed"));
    TestNoise noise(noise_stack);
    Recorded rec;
    DenoiseFn model = [&rec](const Tensor& x, float sigma) {
        rec.model_sigmas.push_back(sigma);
        return kdiff_closed_form(x, sigma);
    };
    StepCallback cb = [&rec](const StepInfo& s) {
        rec.x.push_back(s.x);
        rec.den.push_back(s.denoised);
    };
    const SamplerOptions opt = kdiff_options(spec.at("kwargs"));
    rec.out = run_sampler(kdiff_kind(spec.at("function").get<std::string>()), model, x0, sigmas, noise, opt, cb);

    const Tensor traj = f.get(pre + "trajectory"), den = f.get(pre + "denoised");
    if (int64_t(rec.x.size()) + 1 != traj.dim(0)) err << "steps: " << rec.x.size() << " vs " << traj.dim(0) - 1 << "\n";
    for (int64_t k = 0; k < traj.dim(0) && k <= int64_t(rec.x.size()); ++k)
        check(err, k < int64_t(rec.x.size()) ? rec.x[size_t(k)] : rec.out, traj.select(0, k),
              "trajectory[" + std::to_string(k) + "]");
    for (int64_t k = 0; k < den.dim(0) && k < int64_t(rec.den.size()); ++k)
        check(err, rec.den[size_t(k)], den.select(0, k), "denoised[" + std::to_string(k) + "]");
    check(err, rec.out, f.get(pre + "out"), "out");
    check(err, Tensor::from_vector(rec.model_sigmas, {int64_t(rec.model_sigmas.size())}), f.get(pre + "model_sigmas"),
          "model_sigmas");
    const int model_calls = spec.at("model_calls").get<int>(), draws = spec.at("noise_draws").get<int>();
    if (int(rec.model_sigmas.size()) != model_calls)
        err << "model calls: " << rec.model_sigmas.size() << " vs " << model_calls << "\n";
    if (int(noise.used()) != draws || noise.extra() != 0)
        err << "noise draws: " << noise.used() + noise.extra() << " vs " << draws << "\n";
    return err.str();
}

// ---------------- diffusers cases ----------------

struct DiffusersPlan {
    SamplerKind kind;
    SamplerOptions opt;
    std::vector<double> timesteps;  // as the scheduler lists them
    std::vector<float> sigmas;      // the sampler's sigma grid (n+1)
    std::vector<double> t_of_step;  // model timestep per sigma grid entry (n)
    bool vp = true;                 // trajectory stored as the VP sample x / sqrt(1 + sigma^2)
    bool lcm = false;
    int expected_draws_delta = 0;   // our draws minus diffusers' (documented differences)
    bool ignore_extra_draws = false;
};

DiffusersPlan plan_diffusers(const nlohmann::json& run, int steps) {
    const std::string cls = run.at("class").get<std::string>();
    const auto& c = run.at("config");
    SDPP_CHECK(c.value("prediction_type", "epsilon") == "epsilon", "only epsilon prediction runs are supported");
    SDPP_CHECK(c.value("beta_schedule", "scaled_linear") == "scaled_linear", "unsupported beta_schedule");
    SDPP_CHECK(c.value("thresholding", false) == false && c.value("clip_sample", false) == false,
               "thresholding/clip_sample are not supported");
    SDPP_CHECK(c.value("rescale_betas_zero_snr", false) == false, "rescale_betas_zero_snr is not supported");
    DiffusersScheduleConfig cfg;
    cfg.num_train_timesteps = c.at("num_train_timesteps").get<int>();
    cfg.beta_start = c.at("beta_start").get<double>();
    cfg.beta_end = c.at("beta_end").get<double>();
    cfg.steps_offset = c.value("steps_offset", 0);
    cfg.spacing = timestep_spacing_from_name(c.value("timestep_spacing", "leading"));
    const bool karras = c.value("use_karras_sigmas", false);
    const std::vector<float> ac = diffusers_alphas_cumprod(cfg);
    const std::vector<float> train = diffusers_train_sigmas(ac);
    const auto& kw = run.at("step_kwargs");
    for (const auto& [k, v] : kw.items()) SDPP_CHECK(k == "eta", "unsupported step keyword '", k, "'");

    DiffusersPlan p{};
    auto final_alpha_sigma = [&] {
        // set_alpha_to_one=False: the step after the last one lands on alphas_cumprod[0]
        SDPP_CHECK(c.value("set_alpha_to_one", true) == false, "set_alpha_to_one=True is not supported here");
        return train[0];
    };
    if (cls == "DDIMScheduler" || cls == "PNDMScheduler") {
        std::vector<int64_t> ts;
        if (cls == "DDIMScheduler") {
            p.kind = SamplerKind::Ddim;
            p.opt.ddim_eta = kw.value("eta", 0.0f);
            ts = ddim_timesteps(steps, cfg);
        } else {
            SDPP_CHECK(c.value("skip_prk_steps", false), "PNDM runs need skip_prk_steps=True");
            p.kind = SamplerKind::Plms;
            ts = pndm_plms_timesteps(steps, cfg);
        }
        p.timesteps.assign(ts.begin(), ts.end());
        for (size_t i = 0; i < ts.size(); ++i) {
            if (cls == "PNDMScheduler" && i == 1 && ts.size() > 2 && ts[1] == ts[2]) continue;  // repeated timestep
            p.sigmas.push_back(train[size_t(ts[i])]);
            p.t_of_step.push_back(double(ts[i]));
        }
        p.sigmas.push_back(final_alpha_sigma());
    } else if (cls == "EulerDiscreteScheduler" || cls == "EulerAncestralDiscreteScheduler" ||
               cls == "DPMSolverMultistepScheduler" || cls == "UniPCMultistepScheduler") {
        DiffusersTimesteps t;
        if (cls == "EulerDiscreteScheduler" || cls == "EulerAncestralDiscreteScheduler") {
            SDPP_CHECK(c.value("interpolation_type", "linear") == "linear" &&
                           c.value("timestep_type", "discrete") == "discrete",
                       "unsupported Euler interpolation/timestep type");
            t = euler_timesteps(steps, cfg, karras);
            p.kind = cls == "EulerDiscreteScheduler" ? SamplerKind::Euler : SamplerKind::EulerAncestral;
            p.vp = false;
            // Euler: diffusers draws no noise without churn, k-diffusion's euler draws (and drops) one
            // per step. Euler a: diffusers also draws for the last step (scaled by sigma_up = 0).
            if (p.kind == SamplerKind::Euler) p.ignore_extra_draws = true;
            else p.expected_draws_delta = -1;
        } else if (cls == "DPMSolverMultistepScheduler") {
            SDPP_CHECK(c.value("algorithm_type", "") == "dpmsolver++" && c.value("solver_order", 0) == 2 &&
                           c.value("solver_type", "") == "midpoint" && c.value("lower_order_final", false) &&
                           !c.value("euler_at_final", true) && c.value("final_sigmas_type", "") == "zero",
                       "only DPM-Solver++ 2M (midpoint, lower_order_final, zero final sigma) maps to dpmpp_2m");
            t = dpm_multistep_timesteps(steps, cfg, karras);
            p.kind = SamplerKind::Dpmpp2m;
        } else {
            SDPP_CHECK(!karras && c.value("predict_x0", false) && c.value("lower_order_final", false) &&
                           c.value("final_sigmas_type", "") == "zero" && c.at("solver_p").is_null() &&
                           c.at("disable_corrector").empty(),
                       "unsupported UniPC configuration");
            const std::string st = c.value("solver_type", "");
            SDPP_CHECK(st == "bh1" || st == "bh2", "unknown UniPC solver_type ", st);
            t = dpm_multistep_timesteps(steps, cfg, false);
            p.kind = SamplerKind::UniPC;
            p.opt.unipc_variant = st == "bh1" ? UniPCVariant::BH1 : UniPCVariant::BH2;
            p.opt.unipc_order = c.at("solver_order").get<int>();
        }
        p.timesteps = t.timesteps;
        p.sigmas = t.sigmas;
        p.t_of_step = t.timesteps;
    } else if (cls == "LCMScheduler") {
        SDPP_CHECK(c.value("timestep_scaling", 10.0) == 10.0, "unsupported LCM timestep_scaling");
        const std::vector<int64_t> ts = lcm_timesteps(steps, cfg, c.value("original_inference_steps", 50));
        p.kind = SamplerKind::Lcm;
        p.lcm = true;
        p.timesteps.assign(ts.begin(), ts.end());
        for (int64_t t : ts) {
            p.sigmas.push_back(train[size_t(t)]);
            p.t_of_step.push_back(double(t));
        }
        p.sigmas.push_back(0.0f);
    } else {
        throw Error("no sampler maps diffusers class '" + cls + "'");
    }
    return p;
}

// eps(x, t) = 0.8 * tanh(x) + 0.0005 * t on the VP sample x_in = x / sqrt(1 + sigma^2).
std::string run_diffusers_case(const std::string& name, const nlohmann::json& run, const nlohmann::json& doc,
                               const SafetensorsFile& f) {
    std::ostringstream err;
    const int steps = doc.at("steps").get<int>();
    const DiffusersPlan p = plan_diffusers(run, steps);
    const std::string pre = "diffusers." + name + ".";
    // timesteps
    {
        std::vector<double> want = to_doubles(f.get(pre + "timesteps"));
        const std::string bad = elementwise_mismatch(p.timesteps, want, 1e-6, 0);
        if (!bad.empty()) err << "timesteps: " << bad << "\n";
    }
    std::map<float, double> t_of_sigma;
    for (size_t i = 0; i < p.t_of_step.size(); ++i) t_of_sigma[p.sigmas[i]] = p.t_of_step[i];

    const Tensor base = base_noise(err, f, "diffusers", doc);
    const double init_sigma = run.at("init_noise_sigma").get<double>();
    const double s0 = p.sigmas[0];
    // diffusers starts from base * init_noise_sigma (the VP sample, or the sigma-space one for Euler)
    const Tensor x0 = p.vp ? scaled(base, init_sigma * std::sqrt(1.0 + s0 * s0)) : scaled(base, init_sigma);

    const Tensor noise_stack = f.get(pre + "noise");
    check_noise_is_seeded_stream(err, noise_stack, seed_of(doc, "noise_seed"));
    TestNoise noise(noise_stack);
    Recorded rec;
    DenoiseFn model = [&](const Tensor& x, float sigma) {
        auto it = t_of_sigma.find(sigma);
        SDPP_CHECK(it != t_of_sigma.end(), "model called at sigma ", sigma, " which is not on the scheduler's grid");
        const double t = it->second, c_in = 1.0 / std::sqrt(double(sigma) * sigma + 1.0);
        rec.model_sigmas.push_back(sigma);
        Tensor x_in = scaled(x, c_in);
        Tensor eps = map_f32(x_in, [t](double v) { return 0.8 * std::tanh(v) + 0.0005 * t; });
        // x0 = x - sigma * eps
        Tensor den = Tensor::empty(x.shape());
        Tensor xc = x.contiguous();
        for (int64_t i = 0; i < x.numel(); ++i)
            den.data<float>()[i] = float(double(xc.data<float>()[i]) - double(sigma) * eps.data<float>()[i]);
        if (!p.lcm) return den;
        double c_skip, c_out;
        lcm_scalings(t, 10.0, &c_skip, &c_out);
        for (int64_t i = 0; i < x.numel(); ++i)
            den.data<float>()[i] = float(c_out * den.data<float>()[i] + c_skip * x_in.data<float>()[i]);
        return den;
    };
    StepCallback cb = [&rec](const StepInfo& s) { rec.x.push_back(s.x); };
    rec.out = run_sampler(p.kind, model, x0, p.sigmas, noise, p.opt, cb);

    const Tensor traj = f.get(pre + "trajectory");
    std::vector<Tensor> ours = rec.x;
    ours.push_back(rec.out);
    const bool plms = p.kind == SamplerKind::Plms && traj.dim(0) == int64_t(ours.size()) + 1;
    if (traj.dim(0) != int64_t(ours.size()) && !plms)
        err << "trajectory length " << ours.size() << " vs " << traj.dim(0) << "\n";
    for (size_t k = 0; k < ours.size(); ++k) {
        // PLMS: diffusers also records the first step's trial point (index 1); we compare the rest.
        const int64_t idx = plms && k > 0 ? int64_t(k) + 1 : int64_t(k);
        if (idx >= traj.dim(0)) break;
        const double s = p.sigmas[k];
        const Tensor mine = p.vp ? scaled(ours[k], 1.0 / std::sqrt(1.0 + s * s)) : ours[k];
        check(err, mine, traj.select(0, idx), "trajectory[" + std::to_string(idx) + "]");
    }
    const int draws = run.at("noise_draws").get<int>();
    const bool draws_ok = int(noise.used()) == draws + p.expected_draws_delta &&
                          (p.ignore_extra_draws || noise.extra() == 0);
    if (!draws_ok) err << "noise draws: " << noise.used() << " (+" << noise.extra() << " extra) vs " << draws << "\n";
    return err.str();
}

}  // namespace

TEST(SampleParity, SamplerTrajectoriesMatchReferences) {
    const auto& m = sample_manifest().at("samplers");
    auto file = SafetensorsFile::open(fixture_path(m.at("file").get<std::string>()));
    int passed = 0, total = 0;
    auto run_case = [&](const std::string& label, const std::function<std::string()>& fn) {
        ++total;
        try {
            const std::string err = fn();
            if (err.empty()) ++passed;
            else ADD_FAILURE() << label << ":\n" << err;
        } catch (const std::exception& e) {
            ADD_FAILURE() << label << ": " << e.what();
        }
    };
    const auto& kd = m.at("kdiff");
    for (const auto& [name, spec] : kd.at("samplers").items())
        run_case("kdiff." + name, [&, name = name, spec = spec] { return run_kdiff_case(name, spec, kd, file); });
    const auto& df = m.at("diffusers");
    for (const auto& [name, run] : df.at("runs").items())
        run_case("diffusers." + name, [&, name = name, run = run] { return run_diffusers_case(name, run, df, file); });
    print_parity_summary("samplers", passed, total);
    EXPECT_GT(total, 0);
    EXPECT_EQ(passed, total);
}
