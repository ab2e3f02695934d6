// Small element-wise helpers for the samplers: latents are small (4 x 128 x 128 at most for SDXL),
// so plain loops over contiguous float32 data, with each output element accumulated in double.
#pragma once
#include "core/tensor.h"

#include <initializer_list>
#include <vector>

namespace sdpp {

// Contiguous float32 version of t (no copy when it already is one).
inline Tensor as_f32(const Tensor& t) {
    SDPP_CHECK(t.defined(), "sampler: undefined tensor");
    return t.dtype() == DType::F32 && t.is_contiguous() ? t : t.to(DType::F32).contiguous();
}

struct Term {
    double c;
    const Tensor& t;
};

// sum_k c_k * t_k over tensors of one shape, as a new float32 tensor.
inline Tensor lincomb(std::initializer_list<Term> terms) {
    SDPP_CHECK(terms.size() > 0, "lincomb: no terms");
    const Shape& shape = terms.begin()->t.shape();
    std::vector<Tensor> keep;
    std::vector<const float*> ptr;
    std::vector<double> coef;
    keep.reserve(terms.size());
    for (const Term& term : terms) {
        SDPP_CHECK(term.t.shape() == shape, "sampler: shape ", term.t.shape_str(), " does not match ", to_string(shape));
        keep.push_back(as_f32(term.t));
        ptr.push_back(keep.back().data<float>());
        coef.push_back(term.c);
    }
    Tensor out = Tensor::empty(shape);
    float* o = out.data<float>();
    const int64_t n = out.numel();
    const size_t k = ptr.size();
    for (int64_t i = 0; i < n; ++i) {
        double acc = 0;
        for (size_t j = 0; j < k; ++j) acc += coef[j] * double(ptr[j][i]);
        o[i] = float(acc);
    }
    return out;
}

}  // namespace sdpp
