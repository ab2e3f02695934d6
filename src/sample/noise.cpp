// Noise sources for the samplers (see noise.h).
#include "sample/noise.h"

namespace sdpp {

Tensor SeededNoise::next(const Shape& shape, float, float) { return gen_.randn(shape); }

NoiseList NoiseList::from_stacked(const Tensor& stacked) {
    SDPP_CHECK(stacked.ndim() >= 1, "noise list: expected a [K, ...] tensor, got a scalar");
    std::vector<Tensor> list;
    for (int64_t k = 0; k < stacked.dim(0); ++k) list.push_back(stacked.select(0, k).to(DType::F32).contiguous());
    return NoiseList(std::move(list));
}

Tensor NoiseList::next(const Shape& shape, float, float) {
    SDPP_CHECK(next_ < list_.size(), "noise list: all ", list_.size(), " noise tensors are used up");
    const Tensor& t = list_[next_];
    SDPP_CHECK(t.shape() == shape, "noise list: tensor ", next_, " has shape ", t.shape_str(), ", the sampler asked for ",
               to_string(shape));
    ++next_;
    return t;
}

}  // namespace sdpp
