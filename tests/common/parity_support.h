// Test helpers: where the parity fixtures live, their manifest, and tensor comparison that prints
// llm.c-style diagnostics (first values side by side, max diff and its index).
#pragma once
#include "core/tensor.h"
#include "io/safetensors.h"

#include <nlohmann/json.hpp>

#include <map>
#include <optional>
#include <string>
#include <vector>

namespace sdpp::testing {

// $SDPP_FIXTURES, else ../shared/fixtures relative to the repo root.
std::string fixtures_dir();
std::string fixture_path(const std::string& rel);
const nlohmann::json& manifest();

// A path entry of the manifest (models.<name>.diffusers_folder, ...), resolved with fixture_path;
// nullopt where the entry is null, which means the fixture set lacks it. Throws sdpp::Error when
// the key is missing or holds anything but a string or null.
std::optional<std::string> manifest_path(const nlohmann::json& object, const std::string& key);

// A layout a model comes in: the path models.<name>.<key> of the manifest. A fixture set may lack
// one (a null entry): its cases are skipped and counted under `missing`, never failed.
struct ModelLayout {
    std::string key;      // "single_file" / "diffusers_folder"
    std::string label;    // "single-file" / "diffusers"
    std::string missing;  // the skip reason: "no single file" / "no diffusers folder"
};
// Single file first, then the diffusers folder.
const std::vector<ModelLayout>& model_layouts();
// manifest_path(models.<model>, layout.key).
std::optional<std::string> model_path(const std::string& model, const ModelLayout& layout);

// Cases not run because the fixture set lacks their layout, counted per reason.
struct Skipped {
    std::map<std::string, int> by_reason;
    void add(const std::string& reason, int n = 1) { by_reason[reason] += n; }
    int count() const;
};

struct CompareResult {
    bool ok = true;
    double max_abs_diff = 0;   // max |a - e|
    double ref_max_abs = 0;    // max |e|
    double rel = 0;            // max_abs_diff / max(ref_max_abs, 1e-12)
    int64_t worst_index = -1;
    std::string report;        // multi-line description, empty when ok
};

// Shapes must match; passes when max|a-e| <= rel_tol * max|e| (+ abs_tol).
CompareResult compare(const Tensor& actual, const Tensor& expected, double rel_tol, double abs_tol = 0,
                      const std::string& what = "");

// Prints the per-kind summary line the parity harness promises: "parity <kind>: P/T passed", then
// ", skipped N: <reason>" for every reason in `skipped` (skipped cases are not in P or T).
void print_parity_summary(const std::string& kind, int passed, int total, const Skipped& skipped = {});

}  // namespace sdpp::testing
