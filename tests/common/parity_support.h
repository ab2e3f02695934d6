// Test helpers: where the parity fixtures live, their manifest, and tensor comparison that prints
// llm.c-style diagnostics (first values side by side, max diff and its index).
#pragma once
#include "core/tensor.h"
#include "io/safetensors.h"

#include <nlohmann/json.hpp>

#include <string>

namespace sdpp::testing {

// $SDPP_FIXTURES, else ../shared/fixtures relative to the repo root.
std::string fixtures_dir();
std::string fixture_path(const std::string& rel);
const nlohmann::json& manifest();

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

// Prints the per-kind summary line the parity harness promises: "parity <kind>: P/T passed".
void print_parity_summary(const std::string& kind, int passed, int total);

}  // namespace sdpp::testing
