// conv2d, linear and matmul of the CPU backend (oneDNN) against the reference backend: odd sizes,
// non-square images, batch > 1, strides/padding, non-contiguous inputs, f16/bf16 weights, bf16
// compute, broadcasting batch dims, and the front ends' error messages.
#include "backend_testing.h"

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <tuple>

#include "backend/cpu/cpu_kernels.h"
#include "core/dtype.h"
#include "io/mapped_file.h"

using namespace sdpp;
using namespace sdpp::testing;

SDPP_BACKEND_TEST_SUITE(BackendConv2d);
SDPP_BACKEND_TEST_SUITE(BackendLinear);
SDPP_BACKEND_TEST_SUITE(BackendMatmul);
SDPP_BACKEND_TEST_SUITE(BackendDense);


namespace {

struct ConvCase {
    int64_t n, ci, h, w, co, k;
    int stride, pad;
};

void check_conv(const ConvCase& c, DType wdt, bool bias, DType compute, double tol, uint32_t seed) {
    SCOPED_TRACE(::testing::Message() << "conv n" << c.n << " ci" << c.ci << " " << c.h << "x" << c.w << " co" << c.co
                                      << " k" << c.k << " s" << c.stride << " p" << c.pad << " w" << dtype_name(wdt)
                                      << " compute " << dtype_name(compute));
    Tensor x = randn({c.n, c.ci, c.h, c.w}, seed);
    Tensor w = randn({c.co, c.ci, c.k, c.k}, seed + 1, 0.2f).to(wdt);
    Tensor b = bias ? randn({c.co}, seed + 2) : Tensor();
    Ctx cpu = cpu_ctx(compute), ref = ref_ctx();
    Tensor y = conv2d(cpu, x, w, b, c.stride, c.pad);
    Tensor r = conv2d(ref, x, w, b, c.stride, c.pad);
    EXPECT_LT(rel_err(y, r), tol);
    // Second call reuses the cached primitive and prepared weight.
    EXPECT_LT(rel_err(conv2d(cpu, x, w, b, c.stride, c.pad), r), tol);
}

}  // namespace

TEST_P(BackendConv2d, MatchesReference) {
    const ConvCase cases[] = {
        {2, 3, 7, 5, 5, 3, 1, 1},   {1, 16, 9, 12, 8, 3, 2, 1}, {2, 20, 6, 6, 12, 1, 1, 0},
        {1, 4, 16, 16, 32, 3, 1, 1}, {1, 8, 5, 9, 7, 3, 1, 0},  {3, 1, 1, 1, 3, 1, 1, 0},
        {1, 32, 8, 8, 64, 3, 2, 1},  {1, 9, 11, 4, 5, 3, 2, 0}, {2, 16, 33, 35, 8, 3, 1, 1},
        {2, 12, 32, 40, 6, 1, 1, 0}, {1, 8, 34, 34, 16, 3, 2, 1},
    };
    uint32_t seed = 10;
    for (const ConvCase& c : cases) check_conv(c, DType::F32, true, DType::F32, 1e-5, seed += 3);
    check_conv(cases[0], DType::F32, false, DType::F32, 1e-5, 101);
    check_conv(cases[1], DType::F16, true, DType::F32, 1e-5, 102);
    check_conv(cases[3], DType::BF16, true, DType::F32, 1e-5, 103);
    check_conv(cases[6], DType::F32, true, DType::BF16, 2e-2, 104);
    check_conv(cases[2], DType::F16, true, DType::BF16, 2e-2, 105);
    check_conv(cases[9], DType::F16, false, DType::F32, 1e-5, 106);   // 1x1 via matmul, large image
    check_conv(cases[8], DType::BF16, true, DType::F32, 1e-5, 107);   // blocked layout
}

TEST_P(BackendConv2d, FusedReLUMatchesReference) {
    Ctx cpu = cpu_ctx(), ref = ref_ctx();
    uint32_t seed = 300;
    for (const ConvCase c : {ConvCase{1, 16, 33, 35, 16, 3, 1, 1}, ConvCase{2, 8, 9, 7, 5, 3, 2, 1},
                             ConvCase{1, 12, 16, 16, 6, 1, 1, 0}}) {
        Tensor x = randn({c.n, c.ci, c.h, c.w}, seed++);
        Tensor w = randn({c.co, c.ci, c.k, c.k}, seed++, 0.2f);
        Tensor b = randn({c.co}, seed++);
        Tensor r = conv2d(ref, x, w, b, c.stride, c.pad, Act::ReLU);
        EXPECT_LT(rel_err(conv2d(cpu, x, w, b, c.stride, c.pad, Act::ReLU), r), 1e-5);
        EXPECT_LT(rel_err(relu(ref, conv2d(ref, x, w, b, c.stride, c.pad)), r), 1e-6);
        for (float v : r.to_vector()) ASSERT_GE(v, 0.0f);
    }
}

// Channels-last in and out (conv2d_cl), and the residual end y = relu(conv(x) + y) (conv2d_add_relu)
// into a channels-last and a contiguous y, against the reference (f32 and bf16 compute).
TEST_P(BackendConv2d, ChannelsLastAndAddReLUMatchReference) {
    uint32_t seed = 400;
    for (DType compute : {DType::F32, DType::BF16}) {
        const double tol = compute == DType::BF16 ? 2e-2 : 1e-5;
        Ctx cpu = cpu_ctx(compute), ref = ref_ctx();
        for (const ConvCase c : {ConvCase{1, 16, 40, 36, 16, 3, 1, 1}, ConvCase{2, 8, 9, 7, 8, 3, 2, 1},
                                 ConvCase{1, 12, 33, 35, 12, 3, 1, 1}}) {
            SCOPED_TRACE(::testing::Message() << c.h << "x" << c.w << " s" << c.stride << " " << dtype_name(compute));
            Tensor x = randn({c.n, c.ci, c.h, c.w}, seed++);
            Tensor w = randn({c.co, c.ci, c.k, c.k}, seed++, 0.2f);
            Tensor b = randn({c.co}, seed++);
            Tensor xcl = empty_channels_last(cpu, x.shape());
            copy_into(cpu, xcl, x);
            ASSERT_TRUE(is_channels_last(xcl));
            Tensor r = conv2d(ref, x, w, b, c.stride, c.pad, Act::ReLU);
            Tensor y = conv2d_cl(cpu, xcl, w, b, c.stride, c.pad, Act::ReLU);
            EXPECT_TRUE(is_channels_last(y));
            EXPECT_LT(rel_err(y.contiguous(), r), tol);
            EXPECT_LT(rel_err(conv2d(cpu, xcl, w, b, c.stride, c.pad), conv2d(ref, x, w, b, c.stride, c.pad)), tol);
            // residual: y0 + conv, then relu
            Tensor y0 = randn(r.shape(), seed++);
            Tensor want = relu(ref, add(ref, conv2d(ref, x, w, b, c.stride, c.pad), y0));
            Tensor ycl = empty_channels_last(cpu, r.shape());
            copy_into(cpu, ycl, y0);
            conv2d_add_relu(cpu, xcl, w, b, c.stride, c.pad, ycl);
            EXPECT_LT(rel_err(ycl.contiguous(), want), tol);
            Tensor yc = y0.clone();
            conv2d_add_relu(cpu, x, w, b, c.stride, c.pad, yc);
            EXPECT_LT(rel_err(yc, want), tol);
            Tensor yr = y0.clone();
            conv2d_add_relu(ref, x, w, b, c.stride, c.pad, yr);
            EXPECT_LT(rel_err(yr, want), 1e-6);
        }
    }
    Ctx cpu = cpu_ctx();
    EXPECT_THROW(conv2d(cpu, randn({1, 2, 4, 4}, 1), randn({2, 2, 3, 3}, 2), Tensor(), 1, 1, Act::SumReLU), Error);
}

TEST_P(BackendConv2d, NonContiguousInputAndWeightCacheFollowsStorage) {
    Ctx cpu = cpu_ctx(), ref = ref_ctx();
    Tensor x = randn({2, 6, 10, 8}, 1).permute({0, 1, 3, 2});  // [2,6,8,10] non-contiguous
    Tensor w = randn({4, 6, 3, 3}, 2, 0.3f);
    Tensor b = randn({4}, 3);
    EXPECT_LT(rel_err(conv2d(cpu, x, w, b, 1, 1), conv2d(ref, x, w, b, 1, 1)), 1e-5);
    // A new weight tensor (possibly at the same address after the old one is freed) must not reuse
    // the old prepared copy.
    Tensor w2;
    for (int i = 0; i < 3; ++i) {
        w2 = randn({4, 6, 3, 3}, 50 + i, 0.3f).to(DType::F16);
        prepare_conv2d_weight(cpu, w2);
        EXPECT_LT(rel_err(conv2d(cpu, x, w2, b, 1, 1), conv2d(ref, x, w2, b, 1, 1)), 1e-5);
    }
    EXPECT_GT(prepared_weight_bytes(cpu), 0u);  // w2 (f16) is alive and prepared
    w2 = Tensor();
    EXPECT_EQ(prepared_weight_bytes(cpu), 0u);  // its entry died with it
    Tensor w3 = randn({4, 6, 3, 3}, 60, 0.3f).to(DType::BF16);
    prepare_conv2d_weight(cpu, w3);
    EXPECT_GT(prepared_weight_bytes(cpu), 0u);
    release_prepared_weights(cpu);
    EXPECT_EQ(prepared_weight_bytes(cpu), 0u);
    // One copy per weight, whichever layout (size hint 8x8: plain; a 40x40 call: blocked).
    Tensor w4 = randn({16, 8, 3, 3}, 63, 0.3f).to(DType::F16);
    prepare_conv2d_weight(cpu, w4, 8, 8);
    size_t one = prepared_weight_bytes(cpu);
    EXPECT_GE(one, size_t(16 * 8 * 9 * 4));
    Tensor x4 = randn({1, 8, 40, 40}, 64);
    EXPECT_LT(rel_err(conv2d(cpu, x4, w4, Tensor(), 1, 1), conv2d(ref, x4, w4, Tensor(), 1, 1)), 1e-5);
    EXPECT_LT(prepared_weight_bytes(cpu), 2 * size_t(16 * 8 * 9 * 4));
    EXPECT_THROW(prepare_conv2d_weight(cpu, w4, 1, 1, 1, 0), Error);
    release_prepared_weights(cpu);
    // With a zero cap nothing is kept, and results stay right (prepared per call).
    set_prepared_weight_limit(cpu, 0);
    EXPECT_LT(rel_err(conv2d(cpu, x, w3, b, 1, 1), conv2d(ref, x, w3, b, 1, 1)), 1e-5);
    Tensor wl = randn({5, 8}, 61).to(DType::F16), xl = randn({3, 8}, 62);
    EXPECT_LT(rel_err(linear(cpu, xl, wl, Tensor()), linear(ref, xl, wl, Tensor())), 1e-5);
    // Per-call preparation of weights big enough for the parallel f16 conversion (> 64K values):
    // a blocked-layout conv, a 1x1 conv (matmul path) and a linear.
    Tensor wb = randn({64, 128, 3, 3}, 65, 0.05f).to(DType::F16), xb = randn({1, 128, 34, 34}, 66);
    EXPECT_LT(rel_err(conv2d(cpu, xb, wb, Tensor(), 1, 1), conv2d(ref, xb, wb, Tensor(), 1, 1)), 1e-5);
    Tensor w1 = randn({96, 128, 1, 1}, 67, 0.05f).to(DType::BF16);
    EXPECT_LT(rel_err(conv2d(cpu, xb, w1, Tensor(), 1, 0), conv2d(ref, xb, w1, Tensor(), 1, 0)), 1e-5);
    Tensor wl2 = randn({300, 256}, 68, 0.05f).to(DType::F16), xl2 = randn({7, 256}, 69);
    EXPECT_LT(rel_err(linear(cpu, xl2, wl2, Tensor()), linear(ref, xl2, wl2, Tensor())), 1e-5);
    EXPECT_EQ(prepared_weight_bytes(cpu), 0u);
    // Blocked conv weights convert a few output-channel blocks at a time, whatever blocked layout
    // oneDNN picks on this CPU (8 or 16 output channels per block): a weight of several chunks whose
    // output channels do not fill the last block (300 = 37.5 blocks of 8, 18.75 of 16) gives exactly
    // what the same weight in f32 gives (converted whole: no staging at all).
    {
        Tensor wc = randn({300, 200, 3, 3}, 70, 0.02f).to(DType::F16), xc = randn({1, 200, 32, 32}, 71);
        Tensor want = conv2d(cpu, xc, wc.to(DType::F32), Tensor(), 1, 1);
        const size_t before = cpu.be().counters().weights_converted_in_blocks;
        EXPECT_EQ(rel_err(conv2d(cpu, xc, wc, Tensor(), 1, 1), want), 0.0);  // per call (cap 0)
        EXPECT_EQ(cpu.be().counters().weights_converted_in_blocks, before + 1);  // the blocked path, not the fallback
        set_prepared_weight_limit(cpu, SIZE_MAX);
        prepare_conv2d_weight(cpu, wc, 32, 32);
        EXPECT_EQ(rel_err(conv2d(cpu, xc, wc, Tensor(), 1, 1), want), 0.0);  // kept
        EXPECT_EQ(cpu.be().counters().weights_converted_in_blocks, before + 2);
        release_prepared_weights(cpu);
        set_prepared_weight_limit(cpu, 0);
    }
    // The staging buffer stays near 2 MiB of f32 however big the weight: 512x256x3x3 is 4.7 MB as
    // f32, converted per call in chunks of whole output-channel blocks.
    {
        Tensor wc = randn({512, 256, 3, 3}, 72, 0.02f).to(DType::F16), xc = randn({1, 256, 32, 32}, 73);
        Tensor want = conv2d(cpu, xc, wc.to(DType::F32), Tensor(), 1, 1);
        const size_t before = cpu.be().counters().weights_converted_in_blocks;
        EXPECT_EQ(rel_err(conv2d(cpu, xc, wc, Tensor(), 1, 1), want), 0.0);
        EXPECT_EQ(cpu.be().counters().weights_converted_in_blocks, before + 1);
        const size_t whole = size_t(512) * 256 * 9 * sizeof(float), per_block = size_t(16) * 256 * 9 * sizeof(float);
        EXPECT_GT(cpu.be().counters().block_staging_peak_bytes, 0u);
        EXPECT_LE(cpu.be().counters().block_staging_peak_bytes, std::max<size_t>(size_t(2) << 20, per_block));
        EXPECT_LT(cpu.be().counters().block_staging_peak_bytes, whole / 2);
    }
    // A cap keeps what fits and converts the rest per call.
    set_prepared_weight_limit(cpu, size_t(64 * 128 * 9 * 4));
    EXPECT_LT(rel_err(conv2d(cpu, xb, wb, Tensor(), 1, 1), conv2d(ref, xb, wb, Tensor(), 1, 1)), 1e-5);
    EXPECT_LT(rel_err(linear(cpu, xl2, wl2, Tensor()), linear(ref, xl2, wl2, Tensor())), 1e-5);
    EXPECT_GT(prepared_weight_bytes(cpu), 0u);
    EXPECT_LE(prepared_weight_bytes(cpu), size_t(64 * 128 * 9 * 4));
    release_prepared_weights(cpu);
    set_prepared_weight_limit(cpu, SIZE_MAX);
}

TEST_P(BackendConv2d, ErrorsNameOpAndShapes) {
    Ctx cpu = cpu_ctx();
    Tensor x = Tensor::zeros({1, 4, 64, 64}), w = Tensor::zeros({8, 9, 3, 3});
    try {
        conv2d(cpu, x, w, Tensor(), 1, 1);
        FAIL() << "no error";
    } catch (const Error& e) {
        EXPECT_NE(std::string(e.what()).find("[conv2d] input [1,4,64,64] has 4 channels; weight [8,9,3,3] expects 9"),
                  std::string::npos)
            << e.what();
    }
    EXPECT_THROW(conv2d(cpu, Tensor::zeros({4, 64, 64}), w, Tensor()), Error);
    EXPECT_THROW(conv2d(cpu, Tensor::zeros({1, 9, 2, 2}), w, Tensor(), 1, 0), Error);  // smaller than kernel
    EXPECT_THROW(conv2d(cpu, Tensor::zeros({1, 9, 8, 8}), w, Tensor::zeros({7})), Error);
    Ctx bad = cpu_ctx(DType::F16);
    EXPECT_THROW(conv2d(bad, Tensor::zeros({1, 9, 8, 8}), w, Tensor()), Error);
}

TEST_P(BackendLinear, MatchesReference) {
    Ctx cpu = cpu_ctx(), ref = ref_ctx(), cbf = cpu_ctx(DType::BF16);
    struct C {
        Shape x;
        int64_t out;
    } cases[] = {{{2, 77, 40}, 24}, {{1, 3}, 5}, {{7}, 1}, {{3, 5, 17}, 33}, {{64, 320}, 1280}};
    uint32_t seed = 1;
    for (const C& c : cases) {
        SCOPED_TRACE(to_string(c.x));
        Tensor x = randn(c.x, seed++);
        Tensor w = randn({c.out, c.x.back()}, seed++, 0.1f), b = randn({c.out}, seed++);
        Tensor r = linear(ref, x, w, b);
        EXPECT_LT(rel_err(linear(cpu, x, w, b), r), 1e-5);
        EXPECT_LT(rel_err(linear(cpu, x, w, Tensor()), linear(ref, x, w, Tensor())), 1e-5);
        EXPECT_LT(rel_err(linear(cpu, x, w.to(DType::F16), b), linear(ref, x, w.to(DType::F16), b)), 1e-5);
        EXPECT_LT(rel_err(linear(cpu, x, w.to(DType::BF16), b), linear(ref, x, w.to(DType::BF16), b)), 1e-5);
        EXPECT_LT(rel_err(linear(cbf, x, w, b), r), 2e-2);
    }
    // x a column slice of a packed projection (row stride 3*C), and a transposed (non-contiguous) x.
    Tensor packed = randn({2, 9, 3 * 16}, 77);
    Tensor xs = packed.slice(2, 16, 32);
    Tensor w = randn({8, 16}, 78), b = randn({8}, 79);
    EXPECT_LT(rel_err(linear(cpu, xs, w, b), linear(ref, xs, w, b)), 1e-5);
    Tensor xt = randn({16, 9}, 80).transpose(0, 1);
    EXPECT_LT(rel_err(linear(cpu, xt, w, b), linear(ref, xt, w, b)), 1e-5);
    EXPECT_THROW(linear(cpu, randn({2, 15}, 1), w, b), Error);
    EXPECT_THROW(linear(cpu, randn({2, 16}, 1), w, randn({7}, 1)), Error);
}

TEST_P(BackendMatmul, MatchesReference) {
    Ctx cpu = cpu_ctx(), ref = ref_ctx(), cbf = cpu_ctx(DType::BF16);
    Tensor a = randn({2, 3, 5, 7}, 1), b = randn({7, 4}, 2);
    EXPECT_LT(rel_err(matmul(cpu, a, b), matmul(ref, a, b)), 1e-5);
    EXPECT_LT(rel_err(matmul(cbf, a, b), matmul(ref, a, b)), 2e-2);
    // transposes
    Tensor at = randn({2, 7, 5}, 3), bt = randn({2, 4, 7}, 4);
    EXPECT_LT(rel_err(matmul(cpu, at, bt, true, true, 0.5f), matmul(ref, at, bt, true, true, 0.5f)), 1e-5);
    EXPECT_LT(rel_err(matmul(cpu, at, b, true, false), matmul(ref, at, b, true, false)), 1e-5);
    // broadcasting batch dims [2,1] x [3]
    Tensor a2 = randn({2, 1, 6, 9}, 5), b2 = randn({3, 9, 11}, 6);
    Tensor r2 = matmul(ref, a2, b2);
    EXPECT_EQ(r2.shape(), (Shape{2, 3, 6, 11}));
    EXPECT_LT(rel_err(matmul(cpu, a2, b2), r2), 1e-5);
    // non-collapsible batch (permuted) and fully strided operands
    Tensor a3 = randn({3, 2, 6, 9}, 7).permute({1, 0, 2, 3});
    Tensor b3 = randn({9, 2, 3, 11}, 8).permute({1, 2, 0, 3});
    EXPECT_LT(rel_err(matmul(cpu, a3, b3), matmul(ref, a3, b3)), 1e-5);
    Tensor a4 = randn({4, 12, 10}, 9).slice(2, 0, 10, 2).slice(1, 0, 12, 2);  // no unit stride in dims 1/2
    Tensor b4 = randn({4, 5, 3}, 10);
    EXPECT_LT(rel_err(matmul(cpu, a4, b4), matmul(ref, a4, b4)), 1e-5);
    // vector-like and odd sizes
    Tensor a5 = randn({1, 1}, 11), b5 = randn({1, 77}, 12);
    EXPECT_LT(rel_err(matmul(cpu, a5, b5), matmul(ref, a5, b5)), 1e-5);
    EXPECT_THROW(matmul(cpu, randn({2, 3}, 1), randn({4, 5}, 1)), Error);
    EXPECT_THROW(matmul(cpu, randn({2, 2, 3}, 1), randn({3, 3, 5}, 1)), Error);
}

TEST_P(BackendConv2d, FusedSiLUThroughBackendInterface) {
    // The Backend-level conv2d fuses SiLU as a oneDNN post-op (both layouts and the 1x1 path).
    for (auto [h, k] : {std::pair<int64_t, int64_t>{40, 3}, {8, 3}, {12, 1}}) {
        SCOPED_TRACE(h);
        Tensor x = randn({2, 8, h, h}, 1), w = randn({16, 8, k, k}, 2, 0.3f), b = randn({16}, 3);
        int pad = int(k / 2);
        Tensor y = Tensor::empty({2, 16, h, h}), r = Tensor::empty({2, 16, h, h});
        cpu_backend().conv2d(view_of(x), view_of(w), view_of(b), 1, Pad2d::all(pad), Act::SiLU, DType::F32, view_of(y));
        ref_backend().conv2d(view_of(x), view_of(w), view_of(b), 1, Pad2d::all(pad), Act::SiLU, DType::F32, view_of(r));
        EXPECT_LT(rel_err(y, r), 1e-5);
    }
}

// conv2d_into, as the VAE's row bands use it: bands of rows with real neighbour rows (no padding
// there) and zero padding only at the map's edges, written into row slices of one output, give
// the whole-map conv; on both layouts (the 40-wide map runs blocked, the 12-wide one plain), 3x3
// and 1x1, against the reference backend.
TEST_P(BackendConv2d, IntoRowSlicesWithOneSidedPadding) {
    Ctx cpu = cpu_ctx(), ref = ref_ctx();
    for (auto [h, wd, k] : {std::tuple<int64_t, int64_t, int64_t>{37, 40, 3}, {13, 12, 3}, {9, 40, 1}}) {
        SCOPED_TRACE(std::to_string(h) + "x" + std::to_string(wd) + " k" + std::to_string(k));
        const int p = int(k / 2);
        Tensor x = randn({2, 8, h, wd}, 41), w = randn({16, 8, k, k}, 42, 0.3f), b = randn({16}, 43);
        Tensor whole = conv2d(cpu, x, w, b, 1, p);
        for (Ctx* ctx : {&cpu, &ref}) {
            Tensor out = Tensor::full({2, 16, h, wd}, 7.0f);
            for (int64_t r0 = 0; r0 < h; r0 += 8) {
                const int64_t r1 = std::min(h, r0 + 8);
                const int64_t a = std::max<int64_t>(0, r0 - p), bb = std::min(h, r1 + p);
                conv2d_into(*ctx, x.slice(2, a, bb), w, b, 1, Pad2d{int(p - (r0 - a)), int(p - (bb - r1)), p, p},
                            out.slice(2, r0, r1));
            }
            EXPECT_LT(rel_err(out, whole), 1e-5) << ctx->be().name();
        }
    }
    Tensor x = randn({1, 8, 6, 6}, 1), w = randn({4, 8, 3, 3}, 2);
    Tensor out = Tensor::empty({1, 4, 6, 6});
    EXPECT_THROW(conv2d_into(cpu, x, w, Tensor(), 1, Pad2d{1, 0, 1, 1}, out), Error);   // 5 rows out, not 6
    EXPECT_THROW(conv2d_into(cpu, x, w, Tensor(), 1, Pad2d{-1, 1, 1, 1}, out), Error);  // negative padding
    EXPECT_THROW(conv2d_into(cpu, x, w, Tensor(), 0, Pad2d::all(1), out), Error);       // stride 0
    EXPECT_THROW(conv2d_into(cpu, x, w, Tensor(), 1, Pad2d::all(1), out.transpose(2, 3).slice(3, 0, 6)), Error);
    EXPECT_THROW(conv2d_into(cpu, x, randn({4, 3, 3, 3}, 1), Tensor(), 1, Pad2d::all(1), out), Error);  // channels
    // stride 2 with padding on the bottom and right only (the VAE encoder's downsample), in row
    // bands, against pad-then-conv
    {
        Tensor xd = randn({1, 8, 13, 11}, 44), wd = randn({4, 8, 3, 3}, 45, 0.3f), bd = randn({4}, 46);
        Tensor padded = Tensor::zeros({1, 8, 14, 12});
        copy_into(cpu, padded.slice(2, 0, 13).slice(3, 0, 11), xd);
        Tensor whole = conv2d(cpu, padded, wd, bd, 2, 0);  // [1, 4, 6, 5]
        for (Ctx* ctx : {&cpu, &ref}) {
            Tensor o = Tensor::full(whole.shape(), 3.0f);
            for (int64_t r0 = 0; r0 < 6; r0 += 4) {
                const int64_t r1 = std::min<int64_t>(6, r0 + 4), a = 2 * r0, bb = std::min<int64_t>(13, 2 * r1 + 1);
                conv2d_into(*ctx, xd.slice(2, a, bb), wd, bd, 2, Pad2d{0, int(2 * r1 + 1 - bb), 0, 1}, o.slice(2, r0, r1));
            }
            EXPECT_LT(rel_err(o, whole), 1e-5) << ctx->be().name();
        }
    }
}

TEST_P(BackendDense, NoPrimitiveFallsBackToOneDnnReferenceKernels) {
    // Runs last in this file: every conv/linear/matmul created above (f32 mode) must have been
    // given a fast oneDNN kernel (a per-row matmul bias once sent 1x1 convs to ref:any, 500x slower).
    Ctx cpu = cpu_ctx();
    Tensor x = randn({2, 32, 16, 16}, 1), w = randn({64, 32, 1, 1}, 2), b = randn({64}, 3);
    conv2d(cpu, x, w, b);
    EXPECT_EQ(cpu.be().counters().reference_fallbacks, 0u);
}

namespace {

// Resident bytes of the mapping that contains p (/proc/self/smaps "Rss:"), -1 when not found.
long long resident_bytes_of_mapping(const void* p) {
    std::ifstream smaps("/proc/self/smaps");
    const auto a = reinterpret_cast<uintptr_t>(p);
    std::string line;
    bool in = false;
    while (std::getline(smaps, line)) {
        unsigned long lo = 0, hi = 0;
        if (std::sscanf(line.c_str(), "%lx-%lx ", &lo, &hi) == 2 && line.find(':') > line.find(' ')) {
            in = a >= lo && a < hi;
        } else if (in && line.rfind("Rss:", 0) == 0) {
            return std::atoll(line.c_str() + 4) * 1024;
        }
    }
    return -1;
}

}  // namespace

// A weight that is a view of a mapped file gives back its file pages once the backend keeps a
// prepared copy (the first step's peak is then the copies, not copies + file); a weight the
// budget does not keep is converted on each use and keeps its pages.
TEST_P(BackendDense, KeptWeightGivesBackItsFilePages) {
    const int64_t out = 1024, in = 2048;  // 4 MiB of f16
    Tensor w16 = randn({out, in}, 5, 0.05f).to(DType::F16);
    const std::string path = ::testing::TempDir() + "sdpp_file_pages_" + GetParam().name + ".bin";
    {
        std::ofstream f(path, std::ios::binary);
        f.write(static_cast<const char*>(w16.raw()), std::streamsize(w16.nbytes()));
    }
    Ctx cpu = cpu_ctx(), ref = ref_ctx();
    Tensor x = randn({3, in}, 6);
    const Tensor r = linear(ref, x, w16, Tensor());
    for (bool kept : {false, true}) {
        SCOPED_TRACE(kept ? "kept" : "converted per call");
        auto file = MappedFile::open(path);
        Tensor w = Tensor::borrow(file, file->data(), {out, in}, DType::F16);
        const volatile unsigned char* bytes = reinterpret_cast<const unsigned char*>(file->data());
        unsigned sum = 0;  // touch every page
        for (size_t i = 0; i < w.nbytes(); i += 4096) sum += bytes[i];
        (void)sum;
        ASSERT_GE(resident_bytes_of_mapping(file->data()), (long long)w.nbytes() - 8192);
        set_prepared_weight_limit(cpu, kept ? SIZE_MAX : 0);
        EXPECT_LT(rel_err(linear(cpu, x, w, Tensor()), r), 1e-5);
        if (kept) EXPECT_LE(resident_bytes_of_mapping(file->data()), 8192);
        else EXPECT_GE(resident_bytes_of_mapping(file->data()), (long long)w.nbytes() - 8192);
        EXPECT_LT(rel_err(linear(cpu, x, w, Tensor()), r), 1e-5);  // same result after the release
        release_prepared_weights(cpu);
    }
    set_prepared_weight_limit(cpu, SIZE_MAX);
    std::filesystem::remove(path);
}
