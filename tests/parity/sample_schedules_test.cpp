// Parity: noise schedules (schedules.safetensors) against LDM / k-diffusion / diffusers.
// Every tensor listed under "schedules" in the manifest is a case, except the two probe inputs
// (kdiff.discrete.sigma_to_t.sigma, kdiff.discrete.t_to_sigma.t) which their cases read. Floats must
// match within 1e-5 relative per element; integer timesteps exactly. A name this test does not
// know is a failed case.
#include "parity/sample_fixtures.h"
#include "sample/schedule.h"
#include "common/schedule_diffusers.h"

#include <gtest/gtest.h>

#include <optional>
#include <set>
#include <sstream>
#include <string>
#include <vector>

using namespace sdpp;
using namespace sdpp::testing;

namespace {

constexpr double kRelTol = 1e-5;

std::vector<std::string> split(const std::string& s, char sep) {
    std::vector<std::string> parts;
    std::stringstream ss(s);
    std::string p;
    while (std::getline(ss, p, sep)) parts.push_back(p);
    return parts;
}

template <class T>
std::vector<double> as_doubles(const std::vector<T>& v) {
    return std::vector<double>(v.begin(), v.end());
}

struct Ctx {
    const nlohmann::json& doc;
    const SafetensorsFile& file;
    DiscreteSchedule kd = DiscreteSchedule::ldm();
};

DiffusersScheduleConfig diffusers_config(const nlohmann::json& doc) {
    const auto& c = doc.at("diffusers").at("config");
    DiffusersScheduleConfig cfg;
    cfg.num_train_timesteps = c.at("num_train_timesteps").get<int>();
    cfg.beta_start = c.at("beta_start").get<double>();
    cfg.beta_end = c.at("beta_end").get<double>();
    cfg.steps_offset = c.at("steps_offset").get<int>();
    SDPP_CHECK(c.value("beta_schedule", "scaled_linear") == "scaled_linear", "unsupported beta_schedule ",
               c.value("beta_schedule", ""));
    return cfg;
}

// Computes the values the case `name` expects; throws for names this test cannot handle.
std::vector<double> compute(const std::string& name, Ctx& ctx) {
    const auto p = split(name, '.');
    if (name == "ldm.alphas_cumprod") return as_doubles(ldm_alphas_cumprod());
    if (name == "kdiff.discrete.sigmas") return as_doubles(ctx.kd.sigmas());
    if (name == "kdiff.discrete.log_sigmas") return as_doubles(ctx.kd.log_sigmas());
    if (name == "kdiff.discrete.sigma_to_t.t" || name == "kdiff.discrete.sigma_to_t.t_quantized") {
        std::vector<double> in = to_doubles(ctx.file.get("kdiff.discrete.sigma_to_t.sigma")), out;
        for (double s : in)
            out.push_back(p.back() == "t" ? ctx.kd.sigma_to_t(s) : double(ctx.kd.sigma_to_t_quantized(s)));
        return out;
    }
    if (name == "kdiff.discrete.t_to_sigma.sigma") {
        std::vector<double> in = to_doubles(ctx.file.get("kdiff.discrete.t_to_sigma.t")), out;
        for (double t : in) out.push_back(ctx.kd.t_to_sigma(t));
        return out;
    }
    if (p.size() == 4 && p[0] == "kdiff" && p[1] == "discrete" && p[2] == "get_sigmas")
        return as_doubles(ctx.kd.get_sigmas(std::stoi(p[3])));
    if (p.size() == 3 && p[0] == "kdiff") {
        const int n = std::stoi(p[2]);
        // doc: karras/exponential/polyexponential use sigma_min=sigmas[0], sigma_max=sigmas[-1]
        const double lo = ctx.kd.sigma_min(), hi = ctx.kd.sigma_max();
        if (p[1] == "karras") return as_doubles(karras_sigmas(n, lo, hi, 7.0));
        if (p[1] == "exponential") return as_doubles(exponential_sigmas(n, lo, hi));
        if (p[1] == "polyexponential") return as_doubles(polyexponential_sigmas(n, lo, hi, 1.0));
    }
    if (name == "diffusers.alphas_cumprod") return as_doubles(diffusers_alphas_cumprod(diffusers_config(ctx.doc)));
    if (p.size() >= 5 && p[0] == "diffusers") {
        // diffusers.<Class>[.karras].<spacing>.<n>.<timesteps|sigmas>
        const std::string& cls = p[1];
        const bool karras = p.size() == 6 && p[2] == "karras";
        SDPP_CHECK(p.size() == 5 || karras, "unexpected case name");
        const std::string& what = p.back();
        const int n = std::stoi(p[p.size() - 2]);
        DiffusersScheduleConfig cfg = diffusers_config(ctx.doc);
        cfg.spacing = timestep_spacing_from_name(p[p.size() - 3]);
        const auto& extra = ctx.doc.at("diffusers").at("per_class_extra");
        if (extra.contains(cls) && extra.at(cls).contains("skip_prk_steps"))
            SDPP_CHECK(extra.at(cls).at("skip_prk_steps").get<bool>(), "only skip_prk_steps=true PNDM is supported");
        if (cls == "DDIM" && what == "timesteps" && !karras) return as_doubles(ddim_timesteps(n, cfg));
        if (cls == "PNDM" && what == "timesteps" && !karras) return as_doubles(pndm_plms_timesteps(n, cfg));
        if (cls == "LCM" && what == "timesteps" && !karras) return as_doubles(lcm_timesteps(n, cfg));
        std::optional<DiffusersTimesteps> ts;
        if (cls == "Euler" || (cls == "EulerAncestral" && !karras)) ts = euler_timesteps(n, cfg, karras);
        if (cls == "DPMSolverMultistep" || (cls == "UniPC" && !karras)) ts = dpm_multistep_timesteps(n, cfg, karras);
        if (ts && what == "timesteps") return ts->timesteps;
        if (ts && what == "sigmas") return as_doubles(ts->sigmas);
    }
    throw Error("no handler for schedule case '" + name + "'");
}

}  // namespace

TEST(SampleParity, SchedulesMatchReferences) {
    const auto& m = sample_manifest().at("schedules");
    auto file = SafetensorsFile::open(fixture_path(m.at("file").get<std::string>()));
    Ctx ctx{m.at("doc"), file};
    const std::set<std::string> inputs = {"kdiff.discrete.sigma_to_t.sigma", "kdiff.discrete.t_to_sigma.t"};
    int passed = 0, total = 0;
    for (const auto& [name, info] : m.at("tensors").items()) {
        if (inputs.count(name)) continue;
        ++total;
        try {
            Tensor expected = file.get(name);
            SDPP_CHECK(expected.shape() == info.at("shape").get<Shape>(), "stored shape disagrees with the manifest");
            const std::vector<double> want = to_doubles(expected);
            const std::vector<double> got = compute(name, ctx);
            const bool exact = expected.dtype() == DType::I64;
            // sigma_to_t.t: t is ~0 for sigma near sigma_min, so allow an absolute 1e-5 timestep too.
            const double abs_tol = name == "kdiff.discrete.sigma_to_t.t" ? 1e-5 * 999 : 0.0;
            const std::string bad = elementwise_mismatch(got, want, exact ? 0.0 : kRelTol, abs_tol);
            if (bad.empty()) ++passed;
            else ADD_FAILURE() << name << ": " << bad;
        } catch (const std::exception& e) {
            ADD_FAILURE() << name << ": " << e.what();
        }
    }
    print_parity_summary("schedules", passed, total);
    EXPECT_GT(total, 0);
    EXPECT_EQ(passed, total);
}
