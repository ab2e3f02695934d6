// The small layers every model is built from, each bound from a WeightScope by its key names.
// Dimensions come from the tensor shapes; forward calls the op interface only.
#pragma once
#include "backend/ops.h"
#include "model/weights.h"

namespace sdpp {

// torch.nn.Linear: "weight" [out, in], optional "bias" [out]
struct Linear {
    Tensor weight;
    Tensor bias;
    static Linear load(const WeightScope& w, int64_t in = -1, int64_t out = -1, bool bias = true);
    int64_t in_features() const { return weight.dim(1); }
    int64_t out_features() const { return weight.dim(0); }
    Tensor operator()(Ctx& ctx, const Tensor& x) const { return linear(ctx, x, weight, bias); }
};

// torch.nn.Conv2d: "weight" [out, in, k, k], optional "bias" [out]
struct Conv2d {
    Tensor weight;
    Tensor bias;
    int stride = 1;
    int padding = 0;
    // `expected` [out, in, k, k] (empty = any; -1 = any size in that dim) is checked against the
    // weight, the error naming the full key and both shapes. padding defaults to k / 2 ("same").
    static Conv2d load(const WeightScope& w, const Shape& expected, int stride = 1, int padding = -1,
                       bool bias = true);
    int64_t in_channels() const { return weight.dim(1); }
    int64_t out_channels() const { return weight.dim(0); }
    Tensor operator()(Ctx& ctx, const Tensor& x) const { return conv2d(ctx, x, weight, bias, stride, padding); }
};

// torch.nn.GroupNorm: "weight" [C], "bias" [C]
struct GroupNorm {
    Tensor weight;
    Tensor bias;
    int groups = 32;
    float eps = 1e-5f;
    // channels: the expected size of weight and bias (-1 = any).
    static GroupNorm load(const WeightScope& w, int groups = 32, float eps = 1e-5f, int64_t channels = -1);
    Tensor operator()(Ctx& ctx, const Tensor& x, bool fuse_silu = false) const {
        return group_norm(ctx, x, groups, weight, bias, eps, fuse_silu);
    }
    // The two halves, for maps processed in row bands: statistics of the whole map, then any slice.
    Tensor stats(Ctx& ctx, const Tensor& x) const { return group_norm_stats(ctx, x, groups, eps); }
    Tensor apply(Ctx& ctx, const Tensor& x, const Tensor& st, bool fuse_silu = false) const {
        return group_norm_apply(ctx, x, st, weight, bias, fuse_silu);
    }
};

// torch.nn.LayerNorm over the last dim: "weight" [C], "bias" [C]
struct LayerNorm {
    Tensor weight;
    Tensor bias;
    float eps = 1e-5f;
    static LayerNorm load(const WeightScope& w, float eps = 1e-5f);
    Tensor operator()(Ctx& ctx, const Tensor& x) const { return layer_norm(ctx, x, weight, bias, eps); }
};

}  // namespace sdpp
