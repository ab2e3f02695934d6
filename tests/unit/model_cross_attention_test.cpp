// Cross-attention computes K and V of the text context once and reuses them while the context is the
// same; a context changed in place, of another shape, or another compute precision recomputes them.
#include "model/unet_blocks.h"

#include <gtest/gtest.h>

#include <random>

namespace sdpp {
namespace {

Tensor random(const Shape& shape, uint32_t seed) {
    std::mt19937 rng(seed);
    std::normal_distribution<float> dist(0.0f, 0.5f);
    std::vector<float> v(size_t(numel_of(shape)));
    for (float& x : v) x = dist(rng);
    return Tensor::from_vector(v, shape);
}

float max_diff(const Tensor& a, const Tensor& b) {
    std::vector<float> x = a.to_vector(), y = b.to_vector();
    EXPECT_EQ(x.size(), y.size());
    float m = 0;
    for (size_t i = 0; i < x.size() && i < y.size(); ++i) m = std::max(m, std::abs(x[i] - y[i]));
    return m;
}

TEST(ModelCrossAttention, ContextKeysAndValuesAreReusedOnlyForTheSameContext) {
    WeightStore s;
    s.add("attn.to_q.weight", random({16, 8}, 1));
    s.add("attn.to_k.weight", random({16, 12}, 2));
    s.add("attn.to_v.weight", random({16, 12}, 3));
    s.add("attn.to_out.0.weight", random({8, 16}, 4));
    s.add("attn.to_out.0.bias", random({8}, 5));
    WeightScope w(s, "attn.");
    const Attention a = Attention::load(w, 2, /*self_attn=*/false);
    auto fresh = [&](Ctx& ctx, const Tensor& x, const Tensor& c) {  // its own, empty cache
        return Attention::load(w, 2, false).forward(ctx, x, c);
    };
    Ctx ctx;
    Tensor x = random({2, 5, 8}, 6), c = random({2, 7, 12}, 7);

    EXPECT_EQ(max_diff(a.forward(ctx, x, c), fresh(ctx, x, c)), 0.0f);
    const void* kv = a.context_keys_values(ctx, c).first.raw();
    EXPECT_EQ(a.context_keys_values(ctx, c).first.raw(), kv) << "same context: K and V reused";
    EXPECT_EQ(a.context_keys_values(ctx, c.clone()).first.raw(), kv) << "equal values in another tensor: reused";

    c.data<float>()[17] += 1.0f;  // changed in place: same pointer, other values
    EXPECT_EQ(max_diff(a.forward(ctx, x, c), fresh(ctx, x, c)), 0.0f);
    Tensor shorter = random({2, 3, 12}, 8);
    EXPECT_EQ(max_diff(a.forward(ctx, x, shorter), fresh(ctx, x, shorter)), 0.0f);
    Ctx bf16;
    bf16.compute_dtype = DType::BF16;
    EXPECT_EQ(max_diff(a.forward(bf16, x, c), fresh(bf16, x, c)), 0.0f);
    EXPECT_EQ(max_diff(a.forward(ctx, x, c), fresh(ctx, x, c)), 0.0f);
}

}  // namespace
}  // namespace sdpp
