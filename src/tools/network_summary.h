// `sdpp inspect NETWORK_FILE`: what a LoRA / LyCORIS file is: kind (LoRA, LoCon, LoHa, LoKr), the
// base family it fits (from keys, shapes and ss_base_model_version), ranks and alphas, module
// counts per component, A1111's short hash, and the modules sdpp cannot apply.
#pragma once
#include <nlohmann/json.hpp>

#include <string>

namespace sdpp {

// True when the file's tensor names are those of a network (cheap: keys only for safetensors).
bool is_network_file(const std::string& path);
// Summary of a network file as JSON (throws a one-line sdpp::Error for a bad file).
nlohmann::ordered_json network_summary(const std::string& path);
// The same as text lines.
std::string network_summary_text(const nlohmann::ordered_json& s);

}  // namespace sdpp
