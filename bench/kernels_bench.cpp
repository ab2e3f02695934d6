// sdpp_bench_kernels: GFLOP/s of the kernels that dominate the SD 1.5 U-Net at 512x512 (CFG batch
// of 2), in f32 and bf16 compute, next to oneDNN's plain 4096^3 matmul measured in the same run as
// the machine's practical peak. Each figure is the median of --reps timed runs after one warm-up
// (min and max printed too, so the noise is visible). Issue 2's target: the 3x3 conv at 64x64x320
// and the 4096-token self-attention at >= 60% of the matmul peak.
#include "backend/backend.h"
#include "backend/ops.h"
#include "core/threads.h"

#include <time.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <random>
#include <string>
#include <vector>

using namespace sdpp;

namespace {

struct Stats {
    double med, lo, hi;
};

bool g_cputime = false;  // --cputime: process CPU seconds / threads (robust on a busy machine; 1 thread only)

double now_s() {
    if (g_cputime) {
        timespec ts;
        clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
        return double(ts.tv_sec) + 1e-9 * double(ts.tv_nsec);
    }
    return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

Stats time_it(const std::function<void()>& f, int reps) {
    f();  // warm-up: primitive creation, weight preparation, page faults
    std::vector<double> t;
    for (int i = 0; i < reps; ++i) {
        double t0 = now_s();
        f();
        t.push_back(now_s() - t0);
    }
    std::sort(t.begin(), t.end());
    return {t[t.size() / 2], t.front(), t.back()};
}

Tensor rnd(const Shape& s, uint32_t seed, float scale = 1.0f) {
    std::mt19937 rng(seed);
    std::normal_distribution<float> d(0.0f, scale);
    std::vector<float> v(size_t(numel_of(s)));
    for (float& x : v) x = d(rng);
    return Tensor::from_vector(v, s);
}

double g_peak[2] = {0, 0};

void report(const char* name, DType cdt, double flops, const Stats& s) {
    int mode = cdt == DType::BF16 ? 1 : 0;
    double g = flops / s.med / 1e9;
    std::printf("%-44s %-4s %9.2f ms  (min %8.2f, max %8.2f)  %7.1f GFLOP/s  %5.1f%% of peak\n", name,
                std::string(dtype_name(cdt)).c_str(), s.med * 1e3, s.lo * 1e3, s.hi * 1e3, g,
                g_peak[mode] > 0 ? 100.0 * g / g_peak[mode] : 0.0);
    std::fflush(stdout);
}

double load_avg() {
    double l = -1;
    if (FILE* f = std::fopen("/proc/loadavg", "r")) {
        if (std::fscanf(f, "%lf", &l) != 1) l = -1;
        std::fclose(f);
    }
    return l;
}

}  // namespace

int main(int argc, char** argv) {
    int reps = 7, threads = 0;
    bool quick = false;
    std::string only;
    for (int i = 1; i < argc; ++i) {
        if (!std::strcmp(argv[i], "--reps") && i + 1 < argc) reps = std::atoi(argv[++i]);
        else if (!std::strcmp(argv[i], "--threads") && i + 1 < argc) threads = std::atoi(argv[++i]);
        else if (!std::strcmp(argv[i], "--only") && i + 1 < argc) only = argv[++i];
        else if (!std::strcmp(argv[i], "--quick")) quick = true;
        else if (!std::strcmp(argv[i], "--cputime")) g_cputime = true;
        else {
            std::printf("usage: sdpp_bench_kernels [--reps N] [--threads N] [--quick] [--cputime] [--only conv|attn|linear|peak]\n");
            return 2;
        }
    }
    if (threads > 0) set_num_threads(threads);
    if (quick) reps = 3;
    std::printf("sdpp kernel benchmark: %d threads, median of %d runs, load average %.2f at start\n", num_threads(),
                reps, load_avg());
    bool bf16_native = cpu_backend().supports(Op::Matmul, DType::BF16);
    std::printf("bf16 conv/matmul kernels on this CPU: %s\n\n",
                bf16_native ? "yes (oneDNN native)" : "NO (oneDNN 2.6 has none for AVX2; bf16 mode runs the f32 kernels)");
    auto want = [&](const char* what) { return only.empty() || only == what; };

    const DType modes[2] = {DType::F32, DType::BF16};
    // Peak: oneDNN's plain matmul through the op interface (no extra work on top of oneDNN).
    {
        int64_t n = quick ? 2048 : 4096;
        Tensor a = rnd({n, n}, 1), b = rnd({n, n}, 2);
        for (DType m : modes) {
            Ctx ctx;
            ctx.compute_dtype = m;
            Stats s = time_it([&] { matmul(ctx, a, b); }, std::max(3, reps / 2));
            g_peak[m == DType::BF16] = 2.0 * n * n * n / s.med / 1e9;
            char name[64];
            std::snprintf(name, sizeof name, "peak: oneDNN matmul %lld^3", (long long)n);
            report(name, m, 2.0 * n * n * n, s);
        }
    }
    if (want("conv")) {
        std::printf("\n3x3 convolutions, batch 2, stride 1, padding 1, bias (NCHW f32 in/out)\n");
        struct C { int64_t hw, c; } convs[] = {{64, 320}, {32, 640}, {16, 1280}, {8, 1280}};
        for (auto c : convs) {
            Tensor x = rnd({2, c.c, c.hw, c.hw}, 3), w = rnd({c.c, c.c, 3, 3}, 4, 0.02f), b = rnd({c.c}, 5);
            double flops = 2.0 * 2 * c.c * c.hw * c.hw * c.c * 9;
            for (DType m : modes) {
                Ctx ctx;
                ctx.compute_dtype = m;
                Stats s = time_it([&] { conv2d(ctx, x, w, b, 1, 1); }, reps);
                char name[64];
                std::snprintf(name, sizeof name, "conv3x3 %lldx%lldx%lld", (long long)c.hw, (long long)c.hw, (long long)c.c);
                report(name, m, flops, s);
            }
        }
    }
    if (want("conv")) {
        std::printf("\n1x1 convolutions (ResBlock shortcuts), batch 2 (run as a oneDNN matmul on NCHW)\n");
        struct C { int64_t hw, ci, co; } convs[] = {{64, 320, 640}, {32, 640, 1280}};
        for (auto c : convs) {
            Tensor x = rnd({2, c.ci, c.hw, c.hw}, 3), w = rnd({c.co, c.ci, 1, 1}, 4, 0.02f), b = rnd({c.co}, 5);
            double flops = 2.0 * 2 * c.co * c.hw * c.hw * c.ci;
            for (DType m : modes) {
                Ctx ctx;
                ctx.compute_dtype = m;
                Stats s = time_it([&] { conv2d(ctx, x, w, b, 1, 0); }, reps);
                char name[64];
                std::snprintf(name, sizeof name, "conv1x1 %lldx%lldx%lld->%lld", (long long)c.hw, (long long)c.hw,
                              (long long)c.ci, (long long)c.co);
                report(name, m, flops, s);
            }
        }
    }
    if (want("attn")) {
        std::printf("\nattention, batch 2 (CFG), FLOPs = 4*B*H*Sq*Sk*D\n");
        struct A { int64_t sq, sk, h, d; } attns[] = {{4096, 4096, 8, 40}, {4096, 77, 8, 40}, {1024, 1024, 8, 80},
                                                      {256, 256, 8, 160},  {64, 64, 8, 160}};
        for (auto a : attns) {
            Tensor q = rnd({2, a.sq, a.h * a.d}, 6), k = rnd({2, a.sk, a.h * a.d}, 7), v = rnd({2, a.sk, a.h * a.d}, 8);
            double flops = 4.0 * 2 * a.h * a.sq * a.sk * a.d;
            for (DType m : modes) {
                Ctx ctx;
                ctx.compute_dtype = m;
                Stats s = time_it([&] { attention(ctx, q, k, v, int(a.h)); }, reps);
                char name[64];
                std::snprintf(name, sizeof name, "attention %lldx%lld, %lld heads x %lld", (long long)a.sq,
                              (long long)a.sk, (long long)a.h, (long long)a.d);
                report(name, m, flops, s);
            }
        }
    }
    if (want("linear")) {
        std::printf("\ntransformer linear layers at 64x64 latent, batch 2 (8192 tokens)\n");
        struct L { int64_t m, k, n; } lins[] = {{8192, 320, 2560}, {8192, 1280, 320}, {8192, 320, 320}, {154, 768, 320}};
        for (auto l : lins) {
            Tensor x = rnd({l.m, l.k}, 9), w = rnd({l.n, l.k}, 10, 0.05f), b = rnd({l.n}, 11);
            for (DType m : modes) {
                Ctx ctx;
                ctx.compute_dtype = m;
                Stats s = time_it([&] { linear(ctx, x, w, b); }, reps);
                char name[64];
                std::snprintf(name, sizeof name, "linear [%lld,%lld] x [%lld,%lld]^T", (long long)l.m, (long long)l.k,
                              (long long)l.n, (long long)l.k);
                report(name, m, 2.0 * l.m * l.k * l.n, s);
            }
        }
    }
    std::printf("\nload average at end %.2f\n", load_avg());
    return 0;
}
