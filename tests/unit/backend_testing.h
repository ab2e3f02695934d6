// Helpers shared by the backend_*_test.cpp files: seeded random tensors, contexts for the CPU and
// reference backends, and the error measure every kernel test uses: max |cpu - ref| divided by
// max |ref| (so tolerances are relative to the output's scale).
#pragma once
#include "backend/backend.h"
#include "backend/ops.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <random>

namespace sdpp::testing {

inline Tensor randn(const Shape& shape, uint32_t seed, float scale = 1.0f) {
    std::mt19937 rng(seed);
    std::normal_distribution<float> dist(0.0f, scale);
    std::vector<float> v(size_t(numel_of(shape)));
    for (float& x : v) x = dist(rng);
    return Tensor::from_vector(v, shape);
}

inline Ctx cpu_ctx(DType compute = DType::F32) {
    Ctx c;
    c.compute_dtype = compute;
    return c;
}
inline Ctx ref_ctx() {
    Ctx c;
    c.backend = &ref_backend();
    return c;
}

// max |a - ref| / max |ref|; shapes must match. NaN anywhere gives +inf.
inline double rel_err(const Tensor& a, const Tensor& ref) {
    EXPECT_EQ(a.shape(), ref.shape());
    if (a.shape() != ref.shape()) return INFINITY;
    std::vector<float> x = a.to_vector(), r = ref.to_vector();
    double md = 0, mr = 0;
    for (size_t i = 0; i < x.size(); ++i) {
        if (std::isnan(x[i]) != std::isnan(r[i])) return INFINITY;
        if (std::isnan(x[i])) continue;
        md = std::max(md, std::abs(double(x[i]) - double(r[i])));
        mr = std::max(mr, std::abs(double(r[i])));
    }
    return mr > 0 ? md / mr : md;
}

// A non-contiguous copy of t: same values, stored transposed in the last two dims (or with a
// stride-2 gap when 1-D).
inline Tensor non_contiguous(const Tensor& t) {
    if (t.ndim() >= 2) {
        Tensor s = t.transpose(-1, -2).contiguous().transpose(-1, -2);
        if (t.dim(-1) > 1 && t.dim(-2) > 1) {
            EXPECT_FALSE(s.is_contiguous());
        }
        return s;
    }
    std::vector<float> v = t.to_vector(), w(2 * v.size());
    for (size_t i = 0; i < v.size(); ++i) w[2 * i] = v[i];
    return Tensor::from_vector(w, {int64_t(w.size())}).slice(0, 0, int64_t(w.size()), 2);
}

}  // namespace sdpp::testing
