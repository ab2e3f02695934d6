// A1111 prompt editing, alternation and AND (composable diffusion), as stable-diffusion-webui's
// modules/prompt_parser.py computes them (v1.7+ grammar, lark Earley parser):
//   [from:to:when]  `from` until `when`, then `to`; when < 1 with a '.' is a fraction of the steps,
//                   otherwise an absolute step (A1111: `[a:b:N]` gives a for the calls 0..N)
//   [to:when]       nothing, then `to`;  [from::when]  `from`, then nothing
//   [a|b|c]         a, b, c, a, ... one per denoiser call; empty alternatives allowed ([fe|]male)
//   nesting, (x:1.2) / [x] emphasis kept as text for the attention parser, \[ \( escapes kept
//   a prompt the grammar cannot parse (a stray '|', a '\' at the end) is used literally for all steps
//   AND             splits the positive prompt into sub-prompts, each with an optional trailing
//                   `:weight` (also without AND: "a dog:0.5" is "a dog" with weight 0.5)
// The schedule is a list of (end_at_step, text); denoiser call k (0-based) uses the first entry with
// k <= end_at_step, or the first entry when none (reconstruct_cond_batch). Hires-fix second passes
// use the hires timeline: integer steps offset by the first pass's steps, fractions by 1.0.
// The text is the tag-free prompt (extra-network tags already removed); what comes out goes to
// parse_prompt_attention (weights, BREAK) per distinct text.
#pragma once
#include <string>
#include <string_view>
#include <vector>

namespace sdpp::text {

struct ScheduledText {
    int end_at_step = 0;
    std::string text;
    bool operator==(const ScheduledText&) const = default;
};
using PromptSchedule = std::vector<ScheduledText>;

struct ScheduleOptions {
    int steps = 20;              // denoiser calls of the pass (A1111 total_steps: 2 x steps for second-order samplers)
    int hires_steps = 0;         // > 0: the hires-fix second pass's calls; `steps` is then the first pass's
    bool old_scheduling = false; // A1111 "Use old prompt editing timelines"
};

// get_learned_conditioning_prompt_schedules for one prompt (no AND split: what A1111 does with
// the negative prompt and with each AND part).
PromptSchedule prompt_schedule(std::string_view prompt, const ScheduleOptions& opt);

// False when A1111's grammar has no parse for the prompt (a '|' outside [a|b], a '\' at the end):
// the prompt is then used literally, with every edit in it ignored.
bool prompt_parses(std::string_view prompt);

// True when the prompt parses and contains an edit or alternation (its schedule may vary).
bool has_prompt_editing(std::string_view prompt);

// The edits whose step falls outside 1..steps-1 (they never switch in this pass), as text for a
// warning; empty when none.
std::vector<std::string> out_of_range_edits(std::string_view prompt, const ScheduleOptions& opt);

struct SubPrompt {
    std::string text;
    double weight = 1.0;
    bool operator==(const SubPrompt&) const = default;
};
// get_multicond_prompt_list for one prompt: split at \bAND\b, each part's trailing ":number" is its
// weight (the part keeps its leading whitespace; trailing whitespace goes).
std::vector<SubPrompt> split_subprompts(std::string_view prompt);

// The entry denoiser call `call` (0-based) uses.
size_t schedule_index_at(const PromptSchedule& schedule, int call);

}  // namespace sdpp::text
