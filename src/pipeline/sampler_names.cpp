// The public sampler / schedule name helpers (include/sdpp/sdpp.hpp) over src/sample's one
// registry (sample/sampler_registry.h): no table of their own, so the CLI, the engine and the
// infotext agree on what every name means.
#include "core/error.h"
#include "sample/sampler_registry.h"
#include "sample/schedule.h"

#include <sdpp/sdpp.hpp>

#include <cctype>

namespace sdpp {

namespace {

bool is_automatic(const std::string& name) {
    std::string n;
    for (char c : name)
        if (c != ' ') n += char(std::tolower(static_cast<unsigned char>(c)));
    return n.empty() || n == "automatic" || n == "auto";
}

}  // namespace

std::vector<std::string> known_samplers() { return sampler_ids(); }

std::vector<std::string> known_schedulers() { return schedule_names(); }

SamplerSelection parse_sampler_name(const std::string& name) {
    const SamplerChoice c = sampler_from_name(name);
    return {std::string(c.spec->id), c.schedule ? schedule_name(*c.schedule) : ""};
}

std::string parse_scheduler_name(const std::string& name) {
    if (is_automatic(name)) return "";
    return schedule_name(schedule_from_name(name));
}

// A1111's label where A1111 runs exactly this sampler, else the sdpp id (which reads back here
// to the same sampler; A1111 has no equivalent to offer).
std::string sampler_display_name(const std::string& sampler) {
    try {
        const SamplerSpec& s = *sampler_from_name(sampler).spec;
        return std::string(s.label.empty() ? s.id : s.label);
    } catch (const Error&) {
        return sampler;
    }
}

std::string scheduler_display_name(const std::string& scheduler) {
    if (is_automatic(scheduler)) return "Automatic";
    try {
        return schedule_label(schedule_from_name(scheduler));
    } catch (const Error&) {
        return scheduler;
    }
}

std::string default_scheduler(const std::string& sampler) {
    return schedule_name(*resolve_sampler(sampler, "").schedule);
}

}  // namespace sdpp
