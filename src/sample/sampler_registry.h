// The sampler names users type, resolved once into what runs: which sampler, with which options,
// on which schedule. One table (sampler_registry.cpp) serves the CLI, the engine, the infotext and
// --from-png, so a name means one thing everywhere. docs/samplers.md lists every name.
//
// Two families of names, with different schedule defaults:
//   - sdpp / ComfyUI / k-diffusion names (euler_a, dpmpp_2m, dpm_2, uni_pc, k_lms, ...): the
//     schedule is the request's, `normal` when it names none (ComfyUI's default);
//   - A1111 labels ("Euler a", "DPM++ 2M", "DPM2", "DPM++ 2M Karras", ...): A1111 (v1.9+)
//     semantics, so "Automatic" picks the schedule A1111 picks for that sampler.
#pragma once
#include "sample/samplers.h"
#include "sample/schedule.h"

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace sdpp {

// One meaning: a sampler function, its options, and A1111's penultimate-sigma discard. Each has
// one canonical id (what a resolved request carries) and, when A1111 runs exactly this, its label.
struct SamplerSpec {
    std::string_view id;     // "dpm2", "dpm2_discard", "unipc", "uni_pc", ...
    std::string_view label;  // A1111 label of exactly this sampler ("" when A1111 has none)
    SamplerKind kind;
    SamplerOptions options;  // per-name defaults (SDE solver, UniPC variant and order)
    bool discard_penultimate_sigma = false;  // A1111's discard_next_to_last_sigma
    std::optional<ScheduleKind> a1111_schedule = std::nullopt;  // what A1111's "Automatic" picks
};

// A sampler name resolved: the spec and the schedule the name implies (none for sdpp names).
struct SamplerChoice {
    const SamplerSpec* spec = nullptr;
    std::optional<ScheduleKind> schedule;

    SamplerKind kind() const { return spec->kind; }
    const SamplerOptions& options() const { return spec->options; }
};

// Case-insensitive lookup; A1111 labels are matched exactly first ("DPM2" is A1111's DPM2, "dpm2"
// the plain one). Accepts "<label> <schedule label>" ("DPM++ 2M SDE Karras") and
// "<sdpp name>_<schedule>" ("dpmpp_2m_karras"). Unknown names throw sdpp::Error listing the ids.
SamplerChoice sampler_from_name(std::string_view name);

// The name and a scheduler name ("" or "automatic" = the one the sampler name implies, else
// `normal`) resolved together: the returned choice always has its schedule.
SamplerChoice resolve_sampler(std::string_view sampler, std::string_view scheduler);

const SamplerSpec& sampler_spec(SamplerKind kind);  // the plain spec of a sampler function
std::vector<std::string> sampler_ids();              // every canonical id, in table order
std::vector<std::string> sampler_names();            // every accepted name (ids, aliases, labels)

// Sigmas for a resolved choice: `steps` of its schedule (or `fallback`), with A1111's
// penultimate-sigma discard applied (steps+1 sigmas, then the next-to-last dropped).
std::vector<float> sigmas_for(const SamplerChoice& choice, const DiscreteSchedule& s, int steps,
                              ScheduleKind fallback = ScheduleKind::Normal);

}  // namespace sdpp
