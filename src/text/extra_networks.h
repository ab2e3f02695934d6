// A1111 extra-network tags in prompts: every `<type:arg1:arg2:...>` (regex `<(\w+):([^>]+)>`) is
// removed from the text (replaced by nothing; the spaces around it stay) before the prompt is
// parsed and tokenised, and collected. `<lora:NAME:MULT>`, `<lora:NAME:TE:UNET>` and the named
// forms `te=`, `unet=` select LoRA / LyCORIS networks; `<lyco:...>` is the same.
// Mirrors stable-diffusion-webui modules/extra_networks.py (re_extra_net, parse_prompt,
// ExtraNetworkParams) and extensions-builtin/Lora/extra_networks_lora.py (activate).
// The infotext keeps the prompt as typed, tags included.
#pragma once
#include <map>
#include <string>
#include <vector>

namespace sdpp::text {

struct ExtraNetworkTag {
    std::string type;                         // "lora", "lyco", "hypernet", ...
    std::vector<std::string> items;           // the arguments split at ':'
    std::vector<std::string> positional;      // items without '=' (or with more than one)
    std::map<std::string, std::string> named; // items "key=value"
};

struct ExtraNetworkPrompt {
    std::string text;                   // the prompt without its tags
    std::vector<ExtraNetworkTag> tags;  // in prompt order
};

ExtraNetworkPrompt parse_extra_networks(const std::string& prompt);

struct LoraTag {
    std::string name;
    float te_multiplier = 1.0f;
    float unet_multiplier = 1.0f;
};
// The <lora:...> and <lyco:...> tags: positional NAME, TE (default 1), UNET (default TE), then
// the named te= / unet= override them. A missing name or a bad number is a one-line sdpp::Error.
std::vector<LoraTag> lora_tags(const std::vector<ExtraNetworkTag>& tags);

}  // namespace sdpp::text
