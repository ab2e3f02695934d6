// A1111's "parameters" text (the PNG text chunk A1111, model sites and PNG-info tools read):
//
//     <prompt, possibly several lines>
//     Negative prompt: <negative prompt, possibly several lines>
//     Steps: 20, Sampler: Euler a, Schedule type: Automatic, CFG scale: 7, Seed: 42, Size: 512x512, ...
//
// Mirrors AUTOMATIC1111 stable-diffusion-webui modules/processing.py create_infotext (layout) and
// modules/infotext_utils.py quote / unquote / parse_generation_parameters (re_param, the "< 3
// fields means the last line is still prompt" rule, "Size: WxH" split into Size-1 / Size-2).
#pragma once
#include <sdpp/sdpp.hpp>

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

namespace sdpp {

struct InfoText {
    std::string prompt;
    std::string negative_prompt;
    std::vector<std::pair<std::string, std::string>> fields;  // in order; values unquoted

    const std::string* get(const std::string& key) const;
    void set(const std::string& key, const std::string& value);  // replaces or appends
};

// A1111 quote(): values holding ',', ':' or a newline become JSON strings (non-ASCII kept).
std::string quote_infotext_value(const std::string& value);
// A1111 unquote(): a JSON string back to its text; anything else unchanged.
std::string unquote_infotext_value(const std::string& value);

// prompt + "\nNegative prompt: " + negative (when not empty) + "\n" + "K: V, K: V", stripped.
std::string format_infotext(const InfoText& info);
// parse_generation_parameters without A1111's backward-compatibility defaults. "Size: 512x768"
// stays one field ("Size", "512x768"); parse_size() splits it.
InfoText parse_infotext(const std::string& text);

// The key: value pairs re_param finds in one line, in order (values unquoted).
std::vector<std::pair<std::string, std::string>> parse_infotext_fields(const std::string& line);

// What the engine knows beyond the request and the model description: the --vae override, written
// as A1111 does ("VAE hash: <10 hex>, VAE: <file name>").
struct InfotextExtras {
    std::string vae_name;
    std::string vae_hash;
    std::string lora_hashes;  // A1111 "Lora hashes": "name: 0123456789ab, ..." ("" = none)
    // Tags for the networks a request gave as a list (GenerateRequest::loras), appended to the
    // infotext's prompt so that the text re-runs them (here and in A1111): " <lora:NAME:MULT>".
    std::string lora_tags;
};
// `subseed`: this image's variation seed (written when resolved.subseed_strength is set).
std::string format_parameters(const GenerateRequest& resolved, const ModelDescription& model,
                              const InfotextExtras& extras, int64_t seed, int64_t subseed = 0);

// "name: hash, name: hash" (A1111 "Lora hashes") -> pairs; malformed items are skipped.
std::vector<std::pair<std::string, std::string>> parse_lora_hashes(const std::string& value);

// Shortest decimal form that reads back as the same float: 7 -> "7", 7.5 -> "7.5", 0.75 -> "0.75".
std::string format_number(double v);

}  // namespace sdpp
