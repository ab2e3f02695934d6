// The sampler names users know, in one table: sdpp / ComfyUI (comfy/samplers.py KSAMPLER_NAMES) /
// k-diffusion names, and A1111 labels (modules/sd_samplers_kdiffusion.py samplers_k_diffusion,
// sd_samplers_timesteps.py; v1.9+, where a label without a schedule suffix uses the sampler's
// default scheduler). See sampler_registry.h for the two families' schedule rules.
#include "sample/sampler_registry.h"

#include "core/error.h"

#include <cctype>

namespace sdpp {

namespace {

constexpr auto K = ScheduleKind::Karras;
constexpr auto E = ScheduleKind::Exponential;
constexpr auto D = ScheduleKind::DdimUniform;

SamplerOptions sde(SdeSolver solver) {
    SamplerOptions o;
    o.sde_solver = solver;
    return o;
}

SamplerOptions unipc(UniPCVariant variant, int order) {
    SamplerOptions o;
    o.unipc_variant = variant;
    o.unipc_order = order;
    return o;
}

// Every meaning once. The first spec of each kind is its plain form (sampler_spec(kind)).
const SamplerSpec kSpecs[] = {
    {"euler", "Euler", SamplerKind::Euler, {}},
    {"euler_a", "Euler a", SamplerKind::EulerAncestral, {}},
    {"heun", "Heun", SamplerKind::Heun, {}},
    {"dpm2", "", SamplerKind::Dpm2, {}},
    {"dpm2_discard", "DPM2", SamplerKind::Dpm2, {}, true, K},
    {"dpm2_a", "", SamplerKind::Dpm2Ancestral, {}},
    {"dpm2_a_discard", "DPM2 a", SamplerKind::Dpm2Ancestral, {}, true, K},
    {"lms", "LMS", SamplerKind::Lms, {}},
    {"dpmpp_2s_a", "DPM++ 2S a", SamplerKind::Dpmpp2sAncestral, {}, false, K},
    {"dpmpp_sde", "DPM++ SDE", SamplerKind::DpmppSde, {}, false, K},
    {"dpmpp_2m", "DPM++ 2M", SamplerKind::Dpmpp2m, {}, false, K},
    {"dpmpp_2m_sde", "DPM++ 2M SDE", SamplerKind::Dpmpp2mSde, sde(SdeSolver::Midpoint), false, E},
    {"dpmpp_2m_sde_heun", "DPM++ 2M SDE Heun", SamplerKind::Dpmpp2mSde, sde(SdeSolver::Heun), false, E},
    {"dpmpp_3m_sde", "", SamplerKind::Dpmpp3mSde, {}},
    {"dpmpp_3m_sde_discard", "DPM++ 3M SDE", SamplerKind::Dpmpp3mSde, {}, true, E},
    // A1111's timestep samplers step through t = 1, 1+k, ... (k = 1000 // steps): ddim_uniform.
    {"ddim", "DDIM", SamplerKind::Ddim, {}, false, D},
    {"plms", "PLMS", SamplerKind::Plms, {}, false, D},
    {"unipc", "", SamplerKind::UniPC, unipc(UniPCVariant::BH2, 2)},    // diffusers' defaults
    {"uni_pc", "UniPC", SamplerKind::UniPC, unipc(UniPCVariant::BH1, 3)},  // ComfyUI, A1111
    {"uni_pc_bh2", "", SamplerKind::UniPC, unipc(UniPCVariant::BH2, 3)},   // ComfyUI
    {"lcm", "LCM", SamplerKind::Lcm, {}},
};

// Other names for an sdpp id (lower case): ComfyUI names, k-diffusion function names, A1111's
// k_ aliases and the _gpu variants (ComfyUI's GPU Brownian noise; sdpp draws seeded noise anyway).
struct Alias {
    const char* name;
    const char* id;
};
const Alias kAliases[] = {
    {"k_euler", "euler"}, {"sample_euler", "euler"},
    {"euler_ancestral", "euler_a"}, {"k_euler_a", "euler_a"}, {"k_euler_ancestral", "euler_a"},
    {"sample_euler_ancestral", "euler_a"},
    {"k_heun", "heun"}, {"sample_heun", "heun"},
    {"dpm_2", "dpm2"}, {"k_dpm_2", "dpm2"}, {"sample_dpm_2", "dpm2"},
    {"dpm_2_ancestral", "dpm2_a"}, {"dpm2_ancestral", "dpm2_a"}, {"dpm_2_a", "dpm2_a"}, {"k_dpm_2_a", "dpm2_a"},
    {"sample_dpm_2_ancestral", "dpm2_a"},
    {"k_lms", "lms"}, {"sample_lms", "lms"},
    {"dpmpp_2s_ancestral", "dpmpp_2s_a"}, {"k_dpmpp_2s_a", "dpmpp_2s_a"}, {"sample_dpmpp_2s_ancestral", "dpmpp_2s_a"},
    {"dpmpp_sde_gpu", "dpmpp_sde"}, {"k_dpmpp_sde", "dpmpp_sde"}, {"sample_dpmpp_sde", "dpmpp_sde"},
    {"k_dpmpp_2m", "dpmpp_2m"}, {"sample_dpmpp_2m", "dpmpp_2m"},
    {"dpmpp_2m_sde_gpu", "dpmpp_2m_sde"}, {"k_dpmpp_2m_sde", "dpmpp_2m_sde"}, {"sample_dpmpp_2m_sde", "dpmpp_2m_sde"},
    {"k_dpmpp_2m_sde_ka", "dpmpp_2m_sde"},
    {"dpmpp_2m_sde_heun_gpu", "dpmpp_2m_sde_heun"}, {"k_dpmpp_2m_sde_heun", "dpmpp_2m_sde_heun"},
    {"dpmpp_3m_sde_gpu", "dpmpp_3m_sde"}, {"k_dpmpp_3m_sde", "dpmpp_3m_sde"}, {"sample_dpmpp_3m_sde", "dpmpp_3m_sde"},
    {"pndm", "plms"},
    {"sample_lcm", "lcm"},
};

std::string lower(std::string_view s) {
    std::string r;
    for (char c : s) r += char(std::tolower(static_cast<unsigned char>(c)));
    return r;
}

std::string trim(std::string_view s) {
    size_t b = 0, e = s.size();
    while (b < e && s[b] == ' ') ++b;
    while (e > b && s[e - 1] == ' ') --e;
    return std::string(s.substr(b, e - b));
}

const SamplerSpec* spec_by_id(std::string_view id) {
    for (const SamplerSpec& s : kSpecs)
        if (s.id == id) return &s;
    return nullptr;
}

// sdpp name or alias (already lower case).
const SamplerSpec* find_sdpp(const std::string& key) {
    if (const SamplerSpec* s = spec_by_id(key)) return s;
    for (const Alias& a : kAliases)
        if (key == a.name) return spec_by_id(a.id);
    return nullptr;
}

// A1111 label: exact first, then case-insensitive.
const SamplerSpec* find_label(std::string_view name) {
    for (const SamplerSpec& s : kSpecs)
        if (!s.label.empty() && s.label == name) return &s;
    const std::string key = lower(name);
    for (const SamplerSpec& s : kSpecs)
        if (!s.label.empty() && lower(s.label) == key) return &s;
    return nullptr;
}

// The schedule suffixes A1111's old combined labels and "<id>_<schedule>" names carry.
struct Suffix {
    const char* label;  // A1111 scheduler label ("DPM++ 2M Karras")
    const char* id;     // sdpp schedule name ("dpmpp_2m_karras")
    ScheduleKind kind;
};
const Suffix kSuffixes[] = {
    {"Karras", "karras", ScheduleKind::Karras},
    {"Exponential", "exponential", ScheduleKind::Exponential},
    {"Polyexponential", "polyexponential", ScheduleKind::PolyExponential},
    {"SGM Uniform", "sgm_uniform", ScheduleKind::SgmUniform},
    {"Uniform", "normal", ScheduleKind::Normal},
    {"Simple", "simple", ScheduleKind::Simple},
    {"DDIM", "ddim_uniform", ScheduleKind::DdimUniform},
};

bool ends_with(const std::string& s, const std::string& tail) {
    return s.size() > tail.size() && s.compare(s.size() - tail.size(), tail.size(), tail) == 0;
}

std::optional<SamplerChoice> lookup(std::string_view raw) {
    const std::string name = trim(raw);
    const std::string key = lower(name);
    if (const SamplerSpec* s = find_label(name); s && s->label == name) return SamplerChoice{s, s->a1111_schedule};
    if (const SamplerSpec* s = find_sdpp(key)) return SamplerChoice{s, std::nullopt};
    if (const SamplerSpec* s = find_label(name)) return SamplerChoice{s, s->a1111_schedule};
    for (const Suffix& x : kSuffixes) {
        // "<A1111 label> <schedule label>": A1111's sampler with that schedule.
        const std::string label_tail = " " + lower(x.label);
        if (ends_with(key, label_tail))
            if (const SamplerSpec* s = find_label(name.substr(0, name.size() - label_tail.size())))
                return SamplerChoice{s, x.kind};
        // "<sdpp name>_<schedule>": that sampler with that schedule.
        const std::string id_tail = std::string("_") + x.id;
        if (ends_with(key, id_tail))
            if (const SamplerSpec* s = find_sdpp(key.substr(0, key.size() - id_tail.size())))
                return SamplerChoice{s, x.kind};
    }
    return std::nullopt;
}

std::string joined(const std::vector<std::string>& v) {
    std::string out;
    for (const auto& s : v) out += (out.empty() ? "" : ", ") + s;
    return out;
}

}  // namespace

SamplerChoice sampler_from_name(std::string_view name) {
    if (std::optional<SamplerChoice> c = lookup(name)) return *c;
    throw error("unknown sampler '", name, "' (known: ", joined(sampler_ids()),
                "; A1111 names such as \"Euler a\" or \"DPM++ 2M Karras\" work too)");
}

SamplerChoice resolve_sampler(std::string_view sampler, std::string_view scheduler) {
    SamplerChoice c = sampler_from_name(sampler);
    const std::string sched = lower(trim(scheduler));
    if (!sched.empty() && sched != "automatic" && sched != "auto") c.schedule = schedule_from_name(sched);
    if (!c.schedule) c.schedule = ScheduleKind::Normal;
    return c;
}

const SamplerSpec& sampler_spec(SamplerKind kind) {
    for (const SamplerSpec& s : kSpecs)
        if (s.kind == kind) return s;
    throw error("sampler_spec: no spec for sampler kind ", int(kind));
}

std::vector<std::string> sampler_ids() {
    std::vector<std::string> r;
    for (const SamplerSpec& s : kSpecs) r.emplace_back(s.id);
    return r;
}

std::vector<std::string> sampler_names() {
    std::vector<std::string> r = sampler_ids();
    for (const Alias& a : kAliases) r.emplace_back(a.name);
    for (const SamplerSpec& s : kSpecs)
        if (!s.label.empty()) r.emplace_back(s.label);
    return r;
}

std::vector<float> sigmas_for(const SamplerChoice& choice, const DiscreteSchedule& s, int steps,
                              ScheduleKind fallback) {
    const ScheduleKind kind = choice.schedule.value_or(fallback);
    if (!choice.spec->discard_penultimate_sigma) return make_sigmas(s, kind, steps);
    // A1111: sigmas for steps+1, then drop the next-to-last one.
    std::vector<float> sig = make_sigmas(s, kind, steps + 1);
    sig.erase(sig.end() - 2);
    return sig;
}

}  // namespace sdpp
