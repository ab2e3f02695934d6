// The names users type for samplers and schedules: sdpp's (issue 6 / docs/samplers.md), A1111's
// display names (modules/sd_samplers_kdiffusion.py samplers_k_diffusion, sd_schedulers.py), their
// old combined forms ("DPM++ 2M Karras"), k-diffusion function names (sample_euler_ancestral) and
// ComfyUI's (euler_ancestral, dpm_2, ...). A1111's "Automatic" schedule is the per-sampler default
// that src/sample's registry (sampler_from_name of the A1111 label) implies, else "normal".
#include "core/error.h"
#include "sample/samplers.h"
#include "sample/schedule.h"

#include <sdpp/sdpp.hpp>

#include <algorithm>
#include <cctype>

namespace sdpp {

namespace {

struct SamplerName {
    const char* id;       // sdpp name
    const char* display;  // A1111 display name (src/sample's registry knows these labels)
    std::vector<const char*> aliases;  // compared after normalisation
};

const std::vector<SamplerName>& samplers() {
    static const std::vector<SamplerName> s = {
        {"euler", "Euler", {"k_euler", "sample_euler"}},
        {"euler_a", "Euler a", {"euler_ancestral", "k_euler_a", "sample_euler_ancestral"}},
        {"heun", "Heun", {"k_heun", "sample_heun"}},
        {"dpm2", "DPM2", {"dpm_2", "k_dpm_2", "sample_dpm_2"}},
        {"dpm2_a", "DPM2 a", {"dpm_2_ancestral", "dpm2_ancestral", "k_dpm_2_a", "sample_dpm_2_ancestral"}},
        {"lms", "LMS", {"k_lms", "sample_lms"}},
        {"dpmpp_2s_a", "DPM++ 2S a",
         {"dpmpp_2s_ancestral", "k_dpmpp_2s_a", "sample_dpmpp_2s_ancestral"}},
        {"dpmpp_2m", "DPM++ 2M", {"k_dpmpp_2m", "sample_dpmpp_2m"}},
        {"dpmpp_sde", "DPM++ SDE", {"k_dpmpp_sde", "sample_dpmpp_sde"}},
        {"dpmpp_2m_sde", "DPM++ 2M SDE", {"k_dpmpp_2m_sde", "sample_dpmpp_2m_sde", "k_dpmpp_2m_sde_ka"}},
        {"dpmpp_3m_sde", "DPM++ 3M SDE", {"k_dpmpp_3m_sde", "sample_dpmpp_3m_sde"}},
        {"ddim", "DDIM", {}},
        {"plms", "PLMS", {"pndm"}},
        {"lcm", "LCM", {"sample_lcm"}},
        {"unipc", "UniPC", {"uni_pc"}},
    };
    return s;
}

struct SchedulerName {
    const char* id;
    const char* display;
    std::vector<const char*> aliases;
};

const std::vector<SchedulerName>& schedulers() {
    static const std::vector<SchedulerName> s = {
        {"normal", "Uniform", {"uniform", "discrete", "default"}},
        {"karras", "Karras", {}},
        {"exponential", "Exponential", {}},
        {"polyexponential", "Polyexponential", {}},
        {"sgm_uniform", "SGM Uniform", {"sgmuniform"}},
        {"simple", "Simple", {}},
        {"ddim_uniform", "DDIM", {"ddim"}},
    };
    return s;
}

// Lower case; spaces, '-', '+' spelled out so "DPM++ 2M" and "dpmpp_2m" meet.
std::string norm(const std::string& s) {
    std::string out;
    for (size_t i = 0; i < s.size(); ++i) {
        unsigned char c = static_cast<unsigned char>(s[i]);
        if (c == '+' && i + 1 < s.size() && s[i + 1] == '+') {
            out += "pp";
            ++i;
        } else if (c == ' ' || c == '-' || c == '.') {
            out.push_back('_');
        } else {
            out.push_back(char(std::tolower(c)));
        }
    }
    // collapse repeated underscores, trim
    std::string r;
    for (char c : out)
        if (!(c == '_' && (r.empty() || r.back() == '_'))) r.push_back(c);
    while (!r.empty() && r.back() == '_') r.pop_back();
    return r;
}

const SamplerName* find_sampler(const std::string& n) {
    for (const auto& s : samplers()) {
        if (n == s.id || n == norm(s.display)) return &s;
        for (const char* a : s.aliases)
            if (n == a) return &s;
    }
    return nullptr;
}

const SchedulerName* find_scheduler(const std::string& n) {
    for (const auto& s : schedulers()) {
        if (n == s.id || n == norm(s.display)) return &s;
        for (const char* a : s.aliases)
            if (n == a) return &s;
    }
    return nullptr;
}

std::string joined(const std::vector<std::string>& v) {
    std::string out;
    for (const auto& s : v) out += (out.empty() ? "" : ", ") + s;
    return out;
}

}  // namespace

std::vector<std::string> known_samplers() {
    std::vector<std::string> v;
    for (const auto& s : samplers()) v.push_back(s.id);
    return v;
}

std::vector<std::string> known_schedulers() {
    std::vector<std::string> v;
    for (const auto& s : schedulers()) v.push_back(s.id);
    return v;
}

SamplerSelection parse_sampler_name(const std::string& name) {
    std::string n = norm(name);
    if (const SamplerName* s = find_sampler(n)) return {s->id, ""};
    // "<sampler> <schedule>" / "<sampler>_<schedule>": A1111's old combined names ("DPM++ 2M Karras")
    // and the fixtures' "dpmpp_2m_karras".
    for (const auto& sch : schedulers()) {
        std::vector<std::string> tails = {norm(sch.display), sch.id};
        for (const char* a : sch.aliases) tails.push_back(a);
        for (const std::string& tail : tails) {
            if (n.size() > tail.size() + 1 && n.compare(n.size() - tail.size(), tail.size(), tail) == 0 &&
                n[n.size() - tail.size() - 1] == '_') {
                if (const SamplerName* s = find_sampler(n.substr(0, n.size() - tail.size() - 1)))
                    return {s->id, sch.id};
            }
        }
    }
    throw error("unknown sampler '", name, "' (known: ", joined(known_samplers()), "; A1111 names such as \"Euler a\" work too)");
}

std::string parse_scheduler_name(const std::string& name) {
    std::string n = norm(name);
    if (n.empty() || n == "automatic" || n == "auto") return "";
    if (const SchedulerName* s = find_scheduler(n)) return s->id;
    throw error("unknown scheduler '", name, "' (known: automatic, ", joined(known_schedulers()), ")");
}

std::string sampler_display_name(const std::string& sampler) {
    if (const SamplerName* s = find_sampler(norm(sampler))) return s->display;
    return sampler;
}

std::string scheduler_display_name(const std::string& scheduler) {
    if (scheduler.empty()) return "Automatic";
    if (const SchedulerName* s = find_scheduler(norm(scheduler))) return s->display;
    return scheduler;
}

std::string default_scheduler(const std::string& sampler) {
    const SamplerName* s = find_sampler(norm(sampler));
    if (!s) throw error("unknown sampler '", sampler, "'");
    SamplerChoice c = sampler_from_name(s->display);
    return c.schedule ? schedule_name(*c.schedule) : "normal";
}

}  // namespace sdpp
