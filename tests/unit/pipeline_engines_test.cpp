// Two Engines in one process are independent: each owns its backend (prepared weights and their
// budget) and its tensor allocator. With different weight-cache settings, run one after the other
// and then at the same time on two threads, each gives the latents it gives alone, keeps (or not)
// its own prepared weights, and reports the peak of its own tensors only.
#include "common/parity_support.h"

#include <sdpp/sdpp.hpp>

#include <gtest/gtest.h>

#include <thread>

using namespace sdpp;
using namespace sdpp::testing;

namespace {

ModelOptions options(int64_t weight_cache_mb) {
    ModelOptions o;
    o.model = fixture_path("models/sd1-tiny/sd1-tiny.safetensors");
    o.vocab = fixture_path("clip/vocab.json");
    o.keep_weights = true;
    o.weight_cache_mb = weight_cache_mb;
    o.threads = 1;
    return o;
}

GenerateRequest request() {
    GenerateRequest r;
    r.prompt = "a photo of a cat";
    r.negative_prompt = "blurry";
    r.width = r.height = 64;
    r.steps = 3;
    r.seed = 7;
    r.sampler = "euler";
    return r;
}

}  // namespace

TEST(PipelineEngines, TwoEnginesWithDifferentWeightCachesAreIndependent) {
    Engine all(options(ModelOptions::kWeightCacheAll)), none(options(0));
    const GenerateRequest r = request();
    const GenerateResult solo_all = all.generate(r);
    const GenerateResult solo_none = none.generate(r);
    ASSERT_FALSE(solo_all.latents.data.empty());
    // The same numbers either way: prepared once or converted on every use.
    EXPECT_EQ(solo_all.latents.data, solo_none.latents.data);
    // Each engine's own cache: kept weights in one, none in the other.
    EXPECT_GT(all.memory().prepared_weight_bytes, 0u);
    EXPECT_EQ(none.memory().prepared_weight_bytes, 0u);
    EXPECT_GT(solo_all.peak_bytes, 0u);

    GenerateResult both_all, both_none;
    std::thread ta([&] { both_all = all.generate(r); });
    std::thread tb([&] { both_none = none.generate(r); });
    ta.join();
    tb.join();
    EXPECT_EQ(both_all.latents.data, solo_all.latents.data);
    EXPECT_EQ(both_none.latents.data, solo_none.latents.data);
    ASSERT_EQ(both_all.images.size(), 1u);
    EXPECT_EQ(both_all.images[0].image.pixels, solo_all.images[0].image.pixels);
    EXPECT_EQ(none.memory().prepared_weight_bytes, 0u);
    EXPECT_GT(all.memory().prepared_weight_bytes, 0u);
    // Peaks count each engine's own tensors: running beside the other does not add its memory.
    EXPECT_LE(both_all.peak_bytes, solo_all.peak_bytes * 11 / 10);
    EXPECT_LE(both_none.peak_bytes, solo_none.peak_bytes * 11 / 10);
    EXPECT_GE(both_all.peak_bytes, solo_all.peak_bytes * 9 / 10);
}
