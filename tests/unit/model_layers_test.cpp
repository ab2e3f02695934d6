// Layer binding checks the expected shape in one place: a wrong weight names its full key and both
// shapes (Conv2d::load, GroupNorm::load, WeightScope::need_shape).
#include "core/error.h"
#include "model/layers.h"

#include <gtest/gtest.h>

#include <string>

namespace sdpp {
namespace {

std::string error_of(auto&& fn) {
    try {
        fn();
    } catch (const Error& e) {
        return e.what();
    }
    return "";
}

TEST(ModelLayers, WrongShapesNameTheKeyAndBothShapes) {
    WeightStore s;
    s.add("blk.conv.weight", Tensor::zeros({4, 2, 3, 3}));
    s.add("blk.conv.bias", Tensor::zeros({4}));
    s.add("blk.norm.weight", Tensor::zeros({4}));
    s.add("blk.norm.bias", Tensor::zeros({4}));
    WeightScope w(s, "blk.");
    EXPECT_EQ(Conv2d::load(w.sub("conv"), {4, 2, 3, 3}).padding, 1);
    EXPECT_EQ(Conv2d::load(w.sub("conv"), {}, /*stride=*/2, /*padding=*/0).stride, 2);  // empty: any shape
    const std::string e = error_of([&] { Conv2d::load(w.sub("conv"), {4, 3, 3, 3}); });
    EXPECT_NE(e.find("'blk.conv.weight' has shape [4,2,3,3], expected [4,3,3,3]"), std::string::npos) << e;
    const std::string g = error_of([&] { GroupNorm::load(w.sub("norm"), 32, 1e-5f, 8); });
    EXPECT_NE(g.find("'blk.norm.weight' has shape [4], expected [8]"), std::string::npos) << g;
    EXPECT_EQ(w.need_shape("conv.weight", 4, "U-Net"), (Shape{4, 2, 3, 3}));
    EXPECT_NE(error_of([&] { w.need_shape("conv.weight", 2, "U-Net"); }).find("'blk.conv.weight' has shape [4,2,3,3]"),
              std::string::npos);
    EXPECT_NE(error_of([&] { w.need_shape("x.weight", 2, "VAE"); }).find("not an SD VAE: missing weight 'blk.x.weight'"),
              std::string::npos);
}

}  // namespace
}  // namespace sdpp
