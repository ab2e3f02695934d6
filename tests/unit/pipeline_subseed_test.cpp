// A1111 variation seeds through the engine (tiny SD1 model, a deterministic sampler): strength 0
// changes nothing, strength 1 gives the subseed's own image, a batch keeps the main seed and counts
// the subseeds up (image i equals a single run with subseed + i), and the infotext round-trips.
#include "common/parity_support.h"

#include <sdpp/sdpp.hpp>

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>

using namespace sdpp;
using namespace sdpp::testing;

namespace {

Engine& engine() {
    static Engine e([] {
        ModelOptions o;
        o.model = fixture_path("models/sd1-tiny/sd1-tiny.safetensors");
        o.vocab = fixture_path("clip/vocab.json");
        o.threads = 1;
        return o;
    }());
    return e;
}

GenerateRequest request(int64_t seed, int64_t subseed, float strength, int batch = 1) {
    GenerateRequest r;
    r.prompt = "a cat";
    r.width = r.height = 32;
    r.steps = 3;
    r.sampler = "euler";
    r.seed = seed;
    r.subseed = subseed;
    r.subseed_strength = strength;
    r.batch_size = batch;
    return r;
}

// Batched and single runs agree to rounding, not bit for bit: oneDNN's kernels may sum in another
// order for another batch size (its AVX2 convolutions do).
double max_rel_diff(const std::vector<float>& a, const std::vector<float>& b) {
    EXPECT_EQ(a.size(), b.size());
    double d = 0, m = 0;
    for (size_t i = 0; i < a.size() && i < b.size(); ++i) {
        d = std::max(d, double(std::abs(a[i] - b[i])));
        m = std::max(m, double(std::abs(b[i])));
    }
    return m > 0 ? d / m : d;
}

std::vector<float> image_latent(const GenerateResult& g, int i) {
    const size_t per = g.latents.data.size() / size_t(g.latents.shape[0]);
    return {g.latents.data.begin() + long(per * i), g.latents.data.begin() + long(per * (i + 1))};
}

}  // namespace

TEST(PipelineSubseed, StrengthZeroOneAndBatches) {
    const GenerateResult plain = engine().generate(request(3, -1, 0));
    EXPECT_EQ(engine().generate(request(3, 40, 0)).latents.data, plain.latents.data);
    EXPECT_EQ(plain.request.subseed, -1);  // off: not recorded
    // Full strength: the starting noise is the subseed's (A1111's slerp at 1 returns `high`).
    EXPECT_EQ(engine().generate(request(3, 40, 1)).latents.data, engine().generate(request(40, -1, 0)).latents.data);
    const GenerateResult half = engine().generate(request(3, 40, 0.5f));
    EXPECT_NE(half.latents.data, plain.latents.data);

    const GenerateResult batch = engine().generate(request(3, 40, 0.5f, 2));
    ASSERT_EQ(batch.images.size(), 2u);
    EXPECT_EQ(batch.images[0].seed, 3);
    EXPECT_EQ(batch.images[1].seed, 3);
    EXPECT_LT(max_rel_diff(image_latent(batch, 0), half.latents.data), 1e-3);
    EXPECT_LT(max_rel_diff(image_latent(batch, 1), engine().generate(request(3, 41, 0.5f)).latents.data), 1e-3);
    // ... and far from the image without the variation.
    EXPECT_GT(max_rel_diff(image_latent(batch, 1), engine().generate(request(3, 40, 0.5f)).latents.data), 1e-2);

    const GenerateRequest back = request_from_parameters(batch.images[1].parameters);
    EXPECT_EQ(back.seed, 3);
    EXPECT_EQ(back.subseed, 41);
    EXPECT_FLOAT_EQ(back.subseed_strength, 0.5f);

    GenerateRequest random_subseed = request(3, -1, 0.25f);
    EXPECT_NE(engine().resolve(random_subseed).subseed, -1);
    EXPECT_THROW(engine().resolve(request(3, 1, 1.5f)), Error);
    EXPECT_THROW(engine().resolve(request(3, 1, -0.1f)), Error);
}
