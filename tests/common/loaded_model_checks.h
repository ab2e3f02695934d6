// Checks on loaded models shared by the loader and converter tests: two models hold the same
// internal tensors, and a model carries the hints its fixture manifest entry lists.
// Header-only because sdpp_testing links only sdpp_io; the tests including this link sdpp_model.
#pragma once
#include "model/detect.h"
#include "model/key_map.h"
#include "model/loader.h"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <iterator>
#include <string>
#include <vector>

namespace sdpp::testing {

// Every tensor of `a` equals the tensor of the same internal name in `b` (shape, dtype, values).
inline void expect_same_store(const LoadedModel& a, const LoadedModel& b, const std::string& what) {
    auto na = a.weights().names(), nb = b.weights().names();
    std::vector<std::string> only_a, only_b;
    std::set_difference(na.begin(), na.end(), nb.begin(), nb.end(), std::back_inserter(only_a));
    std::set_difference(nb.begin(), nb.end(), na.begin(), na.end(), std::back_inserter(only_b));
    // Schedule buffers exist only in single files.
    std::erase_if(only_a, [](const std::string& n) { return n.starts_with(kExtraPrefix); });
    std::erase_if(only_b, [](const std::string& n) { return n.starts_with(kExtraPrefix); });
    EXPECT_TRUE(only_a.empty()) << what << ": " << only_a.size() << " keys only in the first, e.g. "
                                << (only_a.empty() ? "" : only_a[0]);
    EXPECT_TRUE(only_b.empty()) << what << ": " << only_b.size() << " keys only in the second, e.g. "
                                << (only_b.empty() ? "" : only_b[0]);
    int compared = 0, mismatched = 0;
    for (const auto& n : na) {
        if (!b.weights().contains(n)) continue;
        Tensor x = a.weights().raw(n), y = b.weights().raw(n);
        if (x.shape() != y.shape() || x.dtype() != y.dtype() || x.to_vector() != y.to_vector()) {
            if (++mismatched <= 5)
                ADD_FAILURE() << what << ": '" << n << "' differs: " << x.shape_str() << " " << dtype_name(x.dtype())
                              << " (" << a.weights().origin(n) << ") vs " << y.shape_str() << " "
                              << dtype_name(y.dtype()) << " (" << b.weights().origin(n) << ")";
        }
        ++compared;
    }
    EXPECT_EQ(mismatched, 0) << what;
    EXPECT_GT(compared, 100) << what;
}

inline void expect_hints(const LoadedModel& m, const nlohmann::json& spec, const std::string& what) {
    const auto& unet = spec["unet_config"];
    const auto& widths = unet["block_out_channels"];
    // diffusers: num_attention_heads, else attention_head_dim, is the head count (int or per level).
    auto heads = unet["num_attention_heads"].is_null() ? unet["attention_head_dim"] : unet["num_attention_heads"];
    for (size_t l = 0; l < widths.size(); ++l) {
        int expect = heads.is_array() ? heads[l].get<int>() : heads.get<int>();
        EXPECT_EQ(unet_heads(m.hints, int(l), widths[l].get<int64_t>()), expect) << what << " level " << l;
    }
    const Prediction pred = spec["prediction_type"] == "v_prediction" ? Prediction::V : Prediction::Eps;
    EXPECT_EQ(m.prediction(), pred) << what;
    ASSERT_TRUE(m.hints.vae_scaling_factor) << what;
    EXPECT_FLOAT_EQ(*m.hints.vae_scaling_factor, spec["vae_config"]["scaling_factor"].get<float>()) << what;
    for (auto& [key, te] : spec["text_encoders"].items()) {
        const bool second = key == "te_g";
        auto h = second ? m.hints.te2_heads : m.hints.te1_heads;
        auto act = second ? m.hints.te2_activation : m.hints.te1_activation;
        ASSERT_TRUE(h && act) << what << " " << key;
        EXPECT_EQ(*h, te["heads"].get<int>()) << what << " " << key;
        EXPECT_EQ(*act, te["quick_gelu"].get<bool>() ? "quick_gelu" : "gelu") << what << " " << key;
    }
}

}  // namespace sdpp::testing
