// Every kernel set this CPU can run (AVX2 everywhere, AVX-512 where the CPU has it; kernel_set.h)
// against the reference backend, op by op, on shapes whose sizes are not multiples of either vector
// width, and the sets against each other. The AVX-512 case skips, saying why, on an AVX2-only CPU.
#include "backend_testing.h"

#include "backend/cpu/cpu_backend.h"

#include <map>
#include <memory>
#include <string>

using namespace sdpp;
using namespace sdpp::testing;

namespace {

// One backend instance per kernel set, alive for the whole test program.
Ctx ctx_for(const cpu::KernelSet& k) {
    static std::map<const cpu::KernelSet*, std::unique_ptr<Backend>> backends;
    auto& be = backends[&k];
    if (!be) be = cpu::make_cpu_backend({.kernels = &k});
    Ctx c;
    c.backend = be.get();
    return c;
}

const cpu::KernelSet* find_set(const std::string& name) {
    for (const cpu::KernelSet* k : cpu::runnable_kernel_sets())
        if (name == k->name) return k;
    return nullptr;
}

// Each op of the set on awkward shapes against the reference backend.
void check_against_reference(const cpu::KernelSet& k) {
    SCOPED_TRACE(k.name);
    Ctx c = ctx_for(k), ref = ref_ctx();
    uint32_t seed = 500;
    for (auto [b, sq, sk, h, d, causal] : {std::tuple{2, 37, 77, 2, 40, false}, {1, 131, 131, 3, 24, true},
                                           {1, 19, 300, 1, 80, false}, {1, 5, 3, 2, 7, false}}) {
        Tensor q = randn({b, sq, h * d}, seed++), kk = randn({b, sk, h * d}, seed++), v = randn({b, sk, h * d}, seed++);
        EXPECT_LT(rel_err(attention(c, q, kk, v, h, causal), attention(ref, q, kk, v, h, causal)), 1e-5)
            << "attention " << sq << "x" << sk << " heads " << h << " of " << d;
    }
    Tensor x = randn({2, 12, 7, 19}, seed++), g = randn({12}, seed++), bt = randn({12}, seed++);
    EXPECT_LT(rel_err(group_norm(c, x, 4, g, bt, 1e-5f, true), group_norm(ref, x, 4, g, bt, 1e-5f, true)), 1e-5);
    Tensor r = randn({9, 53}, seed++, 3.0f), lg = randn({53}, seed++), lb = randn({53}, seed++);
    EXPECT_LT(rel_err(layer_norm(c, r, lg, lb, 1e-5f), layer_norm(ref, r, lg, lb, 1e-5f)), 1e-5);
    EXPECT_LT(rel_err(softmax(c, r), softmax(ref, r)), 1e-5);
    Tensor e = randn({3, 1001}, seed++, 2.0f);
    EXPECT_LT(rel_err(silu(c, e), silu(ref, e)), 1e-5);
    EXPECT_LT(rel_err(gelu(c, e), gelu(ref, e)), 1e-5);
    EXPECT_LT(rel_err(gelu(c, e, true), gelu(ref, e, true)), 1e-5);
    EXPECT_LT(rel_err(geglu(c, randn({5, 2 * 37}, seed)), geglu(ref, randn({5, 2 * 37}, seed))), 1e-5);
    Tensor a = randn({4, 1, 33}, seed++), bb = randn({1, 6, 33}, seed++);
    EXPECT_LT(rel_err(add(c, a, bb), add(ref, a, bb)), 1e-6);
    EXPECT_LT(rel_err(mul(c, a, bb), mul(ref, a, bb)), 1e-6);
    EXPECT_LT(rel_err(scale(c, e, 0.7f, -0.2f), scale(ref, e, 0.7f, -0.2f)), 1e-6);
    Tensor m = randn({1, 3, 11, 13}, seed++);
    EXPECT_EQ(rel_err(upsample_nearest2x(c, m), upsample_nearest2x(ref, m)), 0.0);
    EXPECT_EQ(rel_err(contiguous(c, m.transpose(2, 3)), contiguous(ref, m.transpose(2, 3))), 0.0);
}

}  // namespace

TEST(KernelSets, TheChosenSetIsTheWidestThisCpuRuns) {
    const auto sets = cpu::runnable_kernel_sets();
    ASSERT_FALSE(sets.empty());
    EXPECT_STREQ(sets.front()->name, "avx2");
    const char* forced = std::getenv("SDPP_CPU_ISA");
    EXPECT_STREQ(cpu::kernels().name, forced && *forced ? forced : sets.back()->name);
    std::printf("kernel sets this CPU runs:");
    for (const cpu::KernelSet* k : sets) std::printf(" %s (%d lanes)", k->name, k->lanes);
    std::printf("; chosen: %s; oneDNN: %s\n", cpu::kernels().name, cpu::onednn_isa().c_str());
}

TEST(KernelSets, Avx2MatchesReference) { check_against_reference(*find_set("avx2")); }

TEST(KernelSets, Avx512MatchesReferenceAndAvx2) {
    const cpu::KernelSet* k = find_set("avx512");
    if (!k) {
        const auto& f = cpu::cpu_features();
        GTEST_SKIP() << (f.has_avx512_kernel_isa() ? "this build has no AVX-512 kernel set (not GCC, or SDPP_NATIVE)"
                                                   : "this CPU lacks AVX-512 F/BW/DQ/VL");
    }
    EXPECT_EQ(k->lanes, 16);
    check_against_reference(*k);
    // The two sets agree with each other as closely as each agrees with the reference.
    Ctx a = ctx_for(*find_set("avx2")), b = ctx_for(*k);
    Tensor q = randn({1, 300, 80}, 7), kk = randn({1, 300, 80}, 8), v = randn({1, 300, 80}, 9);
    EXPECT_LT(rel_err(attention(b, q, kk, v, 2), attention(a, q, kk, v, 2)), 1e-5);
}
