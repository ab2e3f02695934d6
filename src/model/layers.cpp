#include "model/layers.h"

namespace sdpp {

Linear Linear::load(const WeightScope& w, int64_t in, int64_t out, bool with_bias) {
    Linear l;
    l.weight = w.matrix("weight", {out, in});
    if (with_bias) l.bias = w.get("bias", {l.weight.dim(0)});
    return l;
}

Conv2d Conv2d::load(const WeightScope& w, const Shape& expected, int stride, int padding, bool with_bias) {
    Conv2d c;
    c.weight = w.matrix("weight", expected.empty() ? Shape{-1, -1, -1, -1} : expected);
    if (with_bias) c.bias = w.get("bias", {c.weight.dim(0)});
    c.stride = stride;
    c.padding = padding >= 0 ? padding : int(c.weight.dim(2) / 2);
    return c;
}

GroupNorm GroupNorm::load(const WeightScope& w, int groups, float eps, int64_t channels) {
    GroupNorm g;
    g.weight = w.get("weight", {channels});
    g.bias = w.get("bias", {g.weight.dim(0)});
    g.groups = groups;
    g.eps = eps;
    return g;
}

LayerNorm LayerNorm::load(const WeightScope& w, float eps) {
    LayerNorm l;
    l.weight = w.get("weight", {-1});
    l.bias = w.get("bias", {l.weight.dim(0)});
    l.eps = eps;
    return l;
}

}  // namespace sdpp
