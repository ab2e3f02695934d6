// Every non-dense op of the CPU backend against the reference backend: norms, softmax,
// activations, broadcasting elementwise ops, concat, upsample, bilinear resize, reductions, on odd
// and tiny shapes, batch > 1 and non-contiguous inputs.
#include "backend_testing.h"

using namespace sdpp;
using namespace sdpp::testing;

SDPP_BACKEND_TEST_SUITE(BackendNorm);
SDPP_BACKEND_TEST_SUITE(BackendActivations);
SDPP_BACKEND_TEST_SUITE(BackendElementwise);
SDPP_BACKEND_TEST_SUITE(BackendShape);
SDPP_BACKEND_TEST_SUITE(BackendReduce);


TEST_P(BackendNorm, GroupNormMatchesReference) {
    Ctx cpu = cpu_ctx(), ref = ref_ctx();
    struct C {
        Shape x;
        int groups;
    } cases[] = {{{2, 32, 5, 7}, 8}, {{1, 64, 3}, 32}, {{1, 6, 1, 1}, 3}, {{2, 320, 9, 9}, 32}, {{1, 4, 33, 17}, 1}};
    uint32_t seed = 1;
    for (const C& c : cases) {
        SCOPED_TRACE(to_string(c.x));
        Tensor x = scale(cpu, randn(c.x, seed++, 2.0f), 1.0f, 3.0f);  // non-zero mean
        Tensor g = randn({c.x[1]}, seed++), b = randn({c.x[1]}, seed++);
        for (bool s : {false, true}) {
            EXPECT_LT(rel_err(group_norm(cpu, x, c.groups, g, b, 1e-5f, s), group_norm(ref, x, c.groups, g, b, 1e-5f, s)),
                      1e-5);
        }
        EXPECT_LT(rel_err(group_norm(cpu, x, c.groups, Tensor(), Tensor(), 1e-6f),
                          group_norm(ref, x, c.groups, Tensor(), Tensor(), 1e-6f)),
                  1e-5);
    }
    Tensor xn = non_contiguous(randn({2, 8, 6, 5}, 99));
    EXPECT_LT(rel_err(group_norm(cpu, xn, 4, Tensor(), Tensor(), 1e-5f), group_norm(ref, xn, 4, Tensor(), Tensor(), 1e-5f)),
              1e-5);
    EXPECT_THROW(group_norm(cpu, randn({1, 10, 4}, 1), 3, Tensor(), Tensor(), 1e-5f), Error);
    EXPECT_THROW(group_norm(cpu, randn({1, 8, 4}, 1), 4, randn({4}, 1), Tensor(), 1e-5f), Error);
}

// The two-pass form the VAE's row bands use: stats of the whole map, then the affine of row slices
// (read in place) equals group_norm on the whole map, bit for bit on the CPU backend; both backends
// agree with each other.
TEST_P(BackendNorm, GroupNormStatsThenApplyOnRowSlices) {
    Ctx cpu = cpu_ctx(), ref = ref_ctx();
    uint32_t seed = 200;
    for (Shape sh : {Shape{2, 32, 11, 7}, Shape{1, 6, 5, 3}, Shape{1, 64, 40, 24}}) {
        SCOPED_TRACE(to_string(sh));
        const int groups = int(sh[1] / 2 >= 32 ? 32 : sh[1] / 2);
        Tensor x = scale(cpu, randn(sh, seed++, 2.0f), 1.0f, -1.5f);
        Tensor g = randn({sh[1]}, seed++), b = randn({sh[1]}, seed++);
        for (bool silu : {false, true}) {
            Tensor whole = group_norm(cpu, x, groups, g, b, 1e-6f, silu);
            Tensor st = group_norm_stats(cpu, x, groups, 1e-6f), st_ref = group_norm_stats(ref, x, groups, 1e-6f);
            ASSERT_EQ(st.shape(), (Shape{sh[0], groups, 2}));
            EXPECT_LT(rel_err(st, st_ref), 1e-6);
            const int64_t h = sh[2], step = 4;
            for (int64_t r0 = 0; r0 < h; r0 += step) {
                const int64_t r1 = std::min(h, r0 + step);
                Tensor band = x.slice(2, r0, r1);
                Tensor y = group_norm_apply(cpu, band, st, g, b, silu);
                EXPECT_EQ(rel_err(y, whole.slice(2, r0, r1).contiguous()), 0.0) << r0;
                EXPECT_LT(rel_err(group_norm_apply(ref, band, st_ref, g, b, silu), y), 1e-5) << r0;
            }
        }
        // a column slice is not one unit-stride run: copied first, same result
        Tensor st = group_norm_stats(cpu, x, groups, 1e-6f);
        Tensor cols = x.slice(3, 1, sh[3]);
        EXPECT_EQ(rel_err(group_norm_apply(cpu, cols, st, g, b, true),
                          group_norm(cpu, x, groups, g, b, 1e-6f, true).slice(3, 1, sh[3]).contiguous()),
                  0.0);
    }
    Tensor x = randn({1, 8, 4, 4}, 7);
    Tensor st = group_norm_stats(cpu, x, 4, 1e-6f);
    EXPECT_THROW(group_norm_stats(cpu, x, 3, 1e-6f), Error);                         // 8 channels, 3 groups
    EXPECT_THROW(group_norm_apply(cpu, randn({2, 8, 4, 4}, 1), st, Tensor(), Tensor()), Error);  // batch 2
    EXPECT_THROW(group_norm_apply(cpu, randn({1, 6, 4, 4}, 1), st, Tensor(), Tensor()), Error);  // 6 % 4
    EXPECT_THROW(group_norm_apply(cpu, x, Tensor(), Tensor(), Tensor()), Error);
    EXPECT_THROW(group_norm_apply(cpu, x, st, randn({4}, 1), Tensor()), Error);
}

TEST_P(BackendNorm, LayerNormAndSoftmaxMatchReference) {
    Ctx cpu = cpu_ctx(), ref = ref_ctx();
    uint32_t seed = 20;
    for (Shape s : {Shape{2, 77, 40}, Shape{3, 1}, Shape{5}, Shape{4, 1280}, Shape{2, 3, 19}}) {
        SCOPED_TRACE(to_string(s));
        Tensor x = scale(cpu, randn(s, seed++, 3.0f), 1.0f, -2.0f);
        Tensor g = randn({s.back()}, seed++), b = randn({s.back()}, seed++);
        EXPECT_LT(rel_err(layer_norm(cpu, x, g, b, 1e-5f), layer_norm(ref, x, g, b, 1e-5f)), 1e-5);
        EXPECT_LT(rel_err(layer_norm(cpu, x, Tensor(), Tensor(), 1e-5f), layer_norm(ref, x, Tensor(), Tensor(), 1e-5f)),
                  1e-5);
        EXPECT_LT(rel_err(softmax(cpu, x), softmax(ref, x)), 1e-5);
        Tensor big = scale(cpu, x, 30.0f);  // large logits: max subtraction matters
        EXPECT_LT(rel_err(softmax(cpu, big), softmax(ref, big)), 1e-5);
        Tensor xn = non_contiguous(x);
        EXPECT_LT(rel_err(softmax(cpu, xn), softmax(ref, xn)), 1e-5);
        EXPECT_LT(rel_err(layer_norm(cpu, xn, g.slice(0, 0, xn.dim(-1)), Tensor(), 1e-5f),
                          layer_norm(ref, xn, g.slice(0, 0, xn.dim(-1)), Tensor(), 1e-5f)),
                  1e-5);
    }
    // Softmax rows sum to one.
    Tensor p = softmax(cpu, randn({3, 4097}, 5, 4.0f));
    Tensor s = mean(cpu, p, -1);
    for (float v : s.to_vector()) EXPECT_NEAR(v * 4097, 1.0, 1e-4);
    EXPECT_THROW(layer_norm(cpu, randn({2, 8}, 1), randn({7}, 1), Tensor(), 1e-5f), Error);
}

TEST_P(BackendActivations, MatchReference) {
    Ctx cpu = cpu_ctx(), ref = ref_ctx();
    uint32_t seed = 40;
    for (int64_t n : {1, 7, 8, 77, 1000, 100003}) {
        SCOPED_TRACE(n);
        Tensor x = randn({n}, seed++, 4.0f);
        if (n > 10) {  // include the tails: large |x| saturates exp/erf/tanh
            std::vector<float> v = x.to_vector();
            v[0] = -30.f, v[1] = 30.f, v[2] = 0.f, v[3] = -90.f, v[4] = 90.f;
            v[5] = NAN;  // must propagate (rel_err fails on a NaN mismatch)
            x = Tensor::from_vector(v, {n});
        }
        EXPECT_LT(rel_err(silu(cpu, x), silu(ref, x)), 1e-5);
        EXPECT_LT(rel_err(gelu(cpu, x), gelu(ref, x)), 1e-5);
        EXPECT_LT(rel_err(gelu(cpu, x, true), gelu(ref, x, true)), 1e-5);
        EXPECT_LT(rel_err(quick_gelu(cpu, x), quick_gelu(ref, x)), 1e-5);
        EXPECT_LT(rel_err(relu(cpu, x), relu(ref, x)), 1e-6);
        EXPECT_LT(rel_err(tanh_act(cpu, x), tanh_act(ref, x)), 1e-5);
        EXPECT_LT(rel_err(scale(cpu, x, 0.5f, -1.f), scale(ref, x, 0.5f, -1.f)), 1e-6);
    }
    // Near zero the activations are small: check the absolute error there too.
    Tensor small = randn({4096}, 7, 1e-3f);
    EXPECT_LT(rel_err(gelu(cpu, small), gelu(ref, small)), 1e-5);
    EXPECT_LT(rel_err(gelu(cpu, small, true), gelu(ref, small, true)), 1e-4);
    EXPECT_LT(rel_err(tanh_act(cpu, small), tanh_act(ref, small)), 1e-4);
    for (Shape s : {Shape{2, 77, 2 * 40}, Shape{1, 2}, Shape{3, 2 * 1280}}) {
        Tensor x = randn(s, seed++, 2.0f);
        EXPECT_LT(rel_err(geglu(cpu, x), geglu(ref, x)), 1e-5);
        Tensor xn = non_contiguous(randn({s[0] * (s.size() == 3 ? s[1] : 1), s.back()}, seed++));
        EXPECT_LT(rel_err(geglu(cpu, xn), geglu(ref, xn)), 1e-5);
    }
    EXPECT_THROW(geglu(cpu, randn({2, 5}, 1)), Error);
    // non-contiguous activation input
    Tensor xn = non_contiguous(randn({33, 17}, 3));
    EXPECT_LT(rel_err(silu(cpu, xn), silu(ref, xn)), 1e-5);
}

TEST_P(BackendElementwise, BroadcastingMatchesReference) {
    Ctx cpu = cpu_ctx(), ref = ref_ctx();
    struct C {
        Shape a, b;
    } cases[] = {{{2, 3, 4, 5}, {3, 1, 1}}, {{2, 3, 4, 5}, {4, 5}}, {{2, 3, 4, 5}, {1}}, {{2, 1, 4, 1}, {1, 3, 1, 5}},
                 {{7}, {7}},                {{1}, {2, 1}},          {{2, 77, 40}, {40}}, {{2, 320, 9, 9}, {2, 320, 1, 1}},
                 {{300, 200}, {300, 200}}, {{2, 19, 37}, {2, 19, 37}}, {{3, 16, 24}, {1}}};
    uint32_t seed = 60;
    for (const C& c : cases) {
        SCOPED_TRACE(to_string(c.a) + " " + to_string(c.b));
        Tensor a = randn(c.a, seed++), b = randn(c.b, seed++);
        EXPECT_LT(rel_err(add(cpu, a, b), add(ref, a, b)), 1e-6);
        EXPECT_LT(rel_err(sub(cpu, a, b), sub(ref, a, b)), 1e-6);
        EXPECT_LT(rel_err(mul(cpu, a, b), mul(ref, a, b)), 1e-6);
        EXPECT_LT(rel_err(add(cpu, b, a), add(ref, b, a)), 1e-6);
        Tensor an = non_contiguous(a);
        EXPECT_LT(rel_err(sub(cpu, an, b), sub(ref, an, b)), 1e-6);
    }
    // big enough to thread, one operand permuted
    Tensor a = randn({2, 64, 64, 40}, 1).permute({0, 3, 1, 2}), b = randn({2, 40, 64, 64}, 2);
    EXPECT_LT(rel_err(add(cpu, a, b), add(ref, a, b)), 1e-6);
    EXPECT_THROW(add(cpu, randn({2, 3}, 1), randn({4}, 1)), Error);
}

TEST_P(BackendShape, ContiguousCopiesAnyViewExactly) {
    Ctx cpu = cpu_ctx(), ref = ref_ctx();
    // The attention layout changes ([N, C, HW] <-> [N, HW, C]) with sizes off the 8x8 tiles, a
    // 4-d permute, a strided slice, and a contiguous tensor (returned as is).
    Tensor a = randn({2, 19, 37}, 1);
    Tensor b = randn({1, 5, 6, 7}, 2);
    for (const Tensor& v : {a.transpose(1, 2), randn({2, 64, 40}, 3).transpose(1, 2), b.permute({0, 2, 3, 1}),
                            b.permute({3, 1, 0, 2}), a.slice(2, 3, 30), a}) {
        SCOPED_TRACE(v.shape_str());
        Tensor c = contiguous(cpu, v), r = contiguous(ref, v);
        EXPECT_TRUE(c.is_contiguous());
        EXPECT_EQ(c.shape(), v.shape());
        EXPECT_EQ(c.to_vector(), v.contiguous().to_vector());
        EXPECT_EQ(r.to_vector(), v.contiguous().to_vector());
    }
    EXPECT_EQ(contiguous(cpu, a).raw(), a.raw());
}

TEST_P(BackendShape, ConcatUpsampleResizeMatchReference) {
    Ctx cpu = cpu_ctx(), ref = ref_ctx();
    Tensor a = randn({2, 3, 5, 4}, 1), b = randn({2, 6, 5, 4}, 2), c = non_contiguous(randn({2, 1, 5, 4}, 3));
    std::vector<Tensor> xs{a, b, c};
    EXPECT_LT(rel_err(concat(cpu, xs, 1), concat(ref, xs, 1)), 0.0 + 1e-9);
    std::vector<Tensor> ys{a, randn({1, 3, 5, 4}, 4)};
    EXPECT_LT(rel_err(concat(cpu, ys, 0), concat(ref, ys, 0)), 1e-9);
    std::vector<Tensor> zs{a, non_contiguous(randn({2, 3, 5, 2}, 5)), randn({2, 3, 5, 1}, 6)};
    Tensor z = concat(cpu, zs, -1);
    EXPECT_EQ(z.shape(), (Shape{2, 3, 5, 7}));
    EXPECT_LT(rel_err(z, concat(ref, zs, -1)), 1e-9);
    std::vector<Tensor> bad{a, randn({2, 3, 4, 4}, 7)};
    EXPECT_THROW(concat(cpu, bad, 1), Error);

    for (Shape s : {Shape{2, 3, 5, 7}, Shape{1, 1, 1, 1}, Shape{1, 4, 9, 16}, Shape{2, 2, 3, 33}}) {
        Tensor x = randn(s, 9);
        EXPECT_LT(rel_err(upsample_nearest2x(cpu, x), upsample_nearest2x(ref, x)), 1e-9);
        for (bool ac : {false, true})
            for (auto [h, w] : {std::pair<int64_t, int64_t>{2 * s[2], 2 * s[3]}, {s[2] + 3, 1}, {1, 5}, {7, 13}}) {
                SCOPED_TRACE(to_string(s) + " -> " + std::to_string(h) + "x" + std::to_string(w) + (ac ? " ac" : ""));
                EXPECT_LT(rel_err(resize_bilinear(cpu, x, h, w, ac), resize_bilinear(ref, x, h, w, ac)), 1e-5);
            }
    }
    // torch.nn.functional.interpolate([[[[1,2],[3,4]]]], size=(3,3), mode="bilinear", align_corners=False)
    Tensor t = Tensor::from_vector(std::vector<float>{1, 2, 3, 4}, {1, 1, 2, 2});
    std::vector<float> r = resize_bilinear(cpu, t, 3, 3, false).to_vector();
    const float want[9] = {1.0f, 1.5f, 2.0f, 2.0f, 2.5f, 3.0f, 3.0f, 3.5f, 4.0f};
    for (int i = 0; i < 9; ++i) EXPECT_NEAR(r[i], want[i], 1e-6) << i;
    // align_corners=True, size (2,3): [[1,1.5,2],[3,3.5,4]]
    r = resize_bilinear(cpu, t, 2, 3, true).to_vector();
    const float want2[6] = {1.0f, 1.5f, 2.0f, 3.0f, 3.5f, 4.0f};
    for (int i = 0; i < 6; ++i) EXPECT_NEAR(r[i], want2[i], 1e-6) << i;
}

TEST_P(BackendReduce, MeanStdMatchReference) {
    Ctx cpu = cpu_ctx(), ref = ref_ctx();
    Tensor x = scale(cpu, randn({3, 5, 7}, 1), 2.0f, 10.0f);
    for (int d : {0, 1, 2, -1})
        for (bool keep : {false, true}) {
            SCOPED_TRACE(std::to_string(d) + (keep ? " keep" : ""));
            Tensor m = mean(cpu, x, d, keep);
            EXPECT_LT(rel_err(m, mean(ref, x, d, keep)), 1e-6);
            EXPECT_LT(rel_err(std_dev(cpu, x, d, keep), std_dev(ref, x, d, keep)), 1e-6);
            EXPECT_LT(rel_err(std_dev(cpu, x, d, keep, false), std_dev(ref, x, d, keep, false)), 1e-6);
        }
    EXPECT_EQ(mean(cpu, x, 1, true).shape(), (Shape{3, 1, 7}));
    Tensor xn = non_contiguous(x);
    EXPECT_LT(rel_err(std_dev(cpu, xn, 1), std_dev(ref, xn, 1)), 1e-6);
    // population std of {1,2,3,4} = sqrt(1.25); sample std = sqrt(5/3)
    Tensor v = Tensor::from_vector(std::vector<float>{1, 2, 3, 4}, {4});
    EXPECT_NEAR(std_dev(cpu, v, 0, false, false).item(), std::sqrt(1.25f), 1e-6);
    EXPECT_NEAR(std_dev(cpu, v, 0).item(), std::sqrt(5.0f / 3.0f), 1e-6);
    EXPECT_NEAR(mean(cpu, v, 0).item(), 2.5f, 1e-6);
    EXPECT_THROW(mean(cpu, x, 3), Error);
}

// add_into adds in place into a view (row slices of NCHW maps), with broadcasting and strided
// operands, on both backends.
TEST_P(BackendElementwise, AddIntoViews) {
    for (Ctx ctx : {cpu_ctx(), ref_ctx()}) {
        SCOPED_TRACE(ctx.be().name());
        Tensor y = randn({2, 3, 10, 6}, 51), before = y.clone();
        Tensor a = randn({2, 3, 4, 6}, 52);
        add_into(ctx, y.slice(2, 3, 7), a);
        Tensor want = add(ctx, before.slice(2, 3, 7), a);
        EXPECT_LT(rel_err(y.slice(2, 3, 7).contiguous(), want), 1e-6);
        EXPECT_EQ(y.slice(2, 0, 3).to_vector(), before.slice(2, 0, 3).to_vector());
        EXPECT_EQ(y.slice(2, 7, 10).to_vector(), before.slice(2, 7, 10).to_vector());
        Tensor bias = randn({3, 1, 1}, 53);  // broadcast over rows and columns
        Tensor y2 = y.clone();
        add_into(ctx, y2.slice(2, 0, 5), bias);
        EXPECT_LT(rel_err(y2.slice(2, 0, 5).contiguous(), add(ctx, y.slice(2, 0, 5), bias)), 1e-6);
        Tensor t = randn({6, 10}, 54);  // a transposed destination (no unit inner stride)
        Tensor tb = t.clone(), at = randn({10, 6}, 55);
        add_into(ctx, t.transpose(0, 1), at);
        EXPECT_LT(rel_err(t.transpose(0, 1).contiguous(), add(ctx, tb.transpose(0, 1), at)), 1e-6);
        EXPECT_THROW(add_into(ctx, y.slice(2, 0, 2), a), Error);
        EXPECT_THROW(add_into(ctx, Tensor::zeros({1, 6}).expand({4, 6}), randn({4, 6}, 1)), Error);
    }
}

// copy_into writes a tensor into a view of another (row slices of NCHW maps, transposed views).
TEST_P(BackendShape, CopyIntoStridedDestinations) {
    for (Ctx ctx : {cpu_ctx(), ref_ctx()}) {
        SCOPED_TRACE(ctx.be().name());
        Tensor dst = Tensor::zeros({2, 3, 10, 6});
        Tensor band = randn({2, 3, 4, 6}, 31);
        copy_into(ctx, dst.slice(2, 5, 9), band);
        EXPECT_EQ(rel_err(dst.slice(2, 5, 9).contiguous(), band), 0.0);
        EXPECT_EQ(dst.slice(2, 0, 5).to_vector(), std::vector<float>(2 * 3 * 5 * 6, 0.0f));
        EXPECT_EQ(dst.slice(2, 9, 10).to_vector(), std::vector<float>(2 * 3 * 6, 0.0f));
        // strided source and a transposed destination
        Tensor src = randn({6, 10}, 32).transpose(0, 1);  // [10, 6], non-contiguous
        Tensor d2 = Tensor::zeros({6, 10});
        copy_into(ctx, d2.transpose(0, 1), src);
        EXPECT_EQ(rel_err(d2.transpose(0, 1).contiguous(), src.contiguous()), 0.0);
        EXPECT_THROW(copy_into(ctx, dst.slice(2, 0, 3), band), Error);
        EXPECT_THROW(copy_into(ctx, Tensor::zeros({1, 6}).expand({4, 6}), randn({4, 6}, 1)), Error);
    }
}
