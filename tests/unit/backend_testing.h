// Helpers shared by the backend_*_test.cpp files: seeded random tensors, the backends under test
// (every CPU kernel set) and contexts for them and the reference backend, and the error measure every kernel test uses: max |cpu - ref| divided by
// max |ref| (so tolerances are relative to the output's scale).
#pragma once
#include "backend/backend.h"
#include "backend/cpu/cpu_backend.h"
#include "backend/ops.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <memory>
#include <random>
#include <string>
#include <vector>

namespace sdpp::testing {

inline Tensor randn(const Shape& shape, uint32_t seed, float scale = 1.0f) {
    std::mt19937 rng(seed);
    std::normal_distribution<float> dist(0.0f, scale);
    std::vector<float> v(size_t(numel_of(shape)));
    for (float& x : v) x = dist(rng);
    return Tensor::from_vector(v, shape);
}

// The backends the kernel tests check against the reference: one CPU backend per kernel set this
// CPU runs (AVX2, and AVX-512 where present). A device backend (CUDA) joins this list.
struct BackendUnderTest {
    std::string name;
    Backend* backend;
};
inline const std::vector<BackendUnderTest>& backends_under_test() {
    static const std::vector<BackendUnderTest> list = [] {
        static std::vector<std::unique_ptr<Backend>> owned;
        std::vector<BackendUnderTest> l;
        for (const cpu::KernelSet* k : cpu::runnable_kernel_sets()) {
            owned.push_back(cpu::make_cpu_backend({.kernels = k}));
            l.push_back({std::string("cpu_") + k->name, owned.back().get()});
        }
        return l;
    }();
    return list;
}

inline void PrintTo(const BackendUnderTest& b, std::ostream* os) { *os << b.name; }  // test names

// The backend the running test checks (set by BackendTest; the default CPU backend outside one).
inline Backend*& backend_under_test() {
    static Backend* b = nullptr;
    return b;
}
inline Ctx cpu_ctx(DType compute = DType::F32) {
    Ctx c;
    c.backend = backend_under_test();
    c.compute_dtype = compute;
    return c;
}

// Kernel tests are TEST_P over backends_under_test(): declare the suite with
// SDPP_BACKEND_TEST_SUITE(Name) and write TEST_P(Name, ...) bodies that use cpu_ctx().
class BackendTest : public ::testing::TestWithParam<BackendUnderTest> {
protected:
    void SetUp() override { backend_under_test() = GetParam().backend; }
    void TearDown() override { backend_under_test() = nullptr; }
};
#define SDPP_BACKEND_TEST_SUITE(Suite)                                                              \
    class Suite : public ::sdpp::testing::BackendTest {};                                          \
    INSTANTIATE_TEST_SUITE_P(Backends, Suite, ::testing::ValuesIn(::sdpp::testing::backends_under_test()), \
                             [](const auto& info) { return info.param.name; })
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
