// sdpp_bench_taesd: TAESD decode time next to the full SD VAE decode (issue 17: TAESD decode of a
// 512x512 image <= 0.25 s on 2 cores), both on full-size random weights built here from the
// architectures (TAESD: width 64, encoder blocks 1/3/3/3, decoder 3/3/3/1, latent 4, as
// madebyollin/taesd; VAE: tools/random_model's sd15 preset, f16 like the real files), weights
// N(0, 1/sqrt(fan_in)) as tools/random_model.h does. Runs are interleaved (TAESD f32, TAESD bf16,
// VAE f32 in turn, after one warm-up each) and reported as medians with min-max and the ratio.
//
//   build/bench/sdpp_bench_taesd [--size 64] [--runs 5] [--threads 2] [--no-vae] [--save DIR]
// --save DIR writes the random TAESD as DIR/taesd_decoder.safetensors + taesd_encoder.safetensors
// (original key names), usable with `sdpp generate --vae-decoder taesd DIR/taesd_decoder.safetensors`.
#include "backend/ops.h"
#include "backend/profiling_backend.h"
#include "core/threads.h"
#include "io/safetensors.h"
#include "model/taesd.h"
#include "model/vae.h"
#include "tools/random_model.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include <time.h>

using namespace sdpp;

namespace {

double now_s() { return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count(); }
// Process CPU seconds (all threads): / threads, a robust estimate of the wall time on a machine the
// run has to itself (other jobs' time is not counted; OMP_WAIT_POLICY=PASSIVE keeps spinning out).
double cpu_s() {
    timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return double(ts.tv_sec) + 1e-9 * double(ts.tv_nsec);
}

Tensor random_normal(const Shape& s, double std, std::mt19937& g, DType dt = DType::F32) {
    std::normal_distribution<float> n(0.0f, float(std));
    Tensor t = Tensor::empty(s);
    float* p = t.data<float>();
    for (int64_t i = 0; i < t.numel(); ++i) p[i] = n(g);
    return dt == DType::F32 ? t : t.to(dt);
}

// The real TAESD's tensors under the original nn.Sequential keys ("encoder" / "decoder" file).
std::vector<std::pair<std::string, Tensor>> taesd_tensors(const std::string& part, std::mt19937& g) {
    const int64_t C = 64, latent = 4;
    std::vector<std::pair<std::string, Tensor>> out;
    auto conv = [&](int i, int64_t co, int64_t ci, bool bias) {
        out.emplace_back(std::to_string(i) + ".weight", random_normal({co, ci, 3, 3}, 1.0 / std::sqrt(ci * 9.0), g));
        if (bias) out.emplace_back(std::to_string(i) + ".bias", Tensor::zeros({co}));
    };
    auto block = [&](int i) {
        for (int k : {0, 2, 4}) {
            const std::string p = std::to_string(i) + ".conv." + std::to_string(k);
            out.emplace_back(p + ".weight", random_normal({C, C, 3, 3}, 1.0 / std::sqrt(C * 9.0), g));
            out.emplace_back(p + ".bias", Tensor::zeros({C}));
        }
    };
    if (part == "encoder") {  // conv, Block, [conv s2, Block x3] x3, conv
        conv(0, C, 3, true);
        block(1);
        int i = 2;
        for (int s = 0; s < 3; ++s) {
            conv(i++, C, C, false);
            for (int b = 0; b < 3; ++b) block(i++);
        }
        conv(i, latent, C, true);
    } else {  // Clamp, conv, ReLU, Block x3, [Upsample, conv, Block x3] x2, Upsample, conv, Block, conv
        conv(1, C, latent, true);
        int i = 3;
        for (int b = 0; b < 3; ++b) block(i++);
        for (int s = 0; s < 3; ++s) {
            ++i;  // Upsample
            conv(i++, C, C, false);
            for (int b = 0; b < (s < 2 ? 3 : 1); ++b) block(i++);
        }
        conv(i, 3, C, true);
    }
    return out;
}

// The sd15 VAE of tools/random_model (first_stage_model.*), materialised in memory.
std::shared_ptr<WeightStore> random_vae(std::mt19937& g) {
    auto store = std::make_shared<WeightStore>();
    for (const TensorSpec& t : checkpoint_tensors(arch_preset("sd15"))) {
        if (t.name.rfind("first_stage_model.", 0) != 0) continue;
        Tensor x;
        switch (t.init) {
            case InitKind::Normal: x = random_normal(t.shape, 1.0 / std::sqrt(t.param), g, DType::F16); break;
            case InitKind::Ones: x = Tensor::full(t.shape, 1.0f); break;
            default: x = Tensor::zeros(t.shape);
        }
        store->add(t.name, x);
    }
    return store;
}

struct Stats {
    double med = 0, lo = 0, hi = 0;
};
Stats stats(std::vector<double> v) {
    std::sort(v.begin(), v.end());
    return {v[v.size() / 2], v.front(), v.back()};
}

}  // namespace

int main(int argc, char** argv) {
    int size = 64, runs = 5, threads = 2;
    bool vae = true, profile = false;
    std::string save;
    for (int i = 1; i < argc; ++i) {
        const std::string a = argv[i];
        auto next = [&]() -> std::string {
            if (i + 1 >= argc) {
                std::fprintf(stderr, "%s needs a value\n", a.c_str());
                std::exit(2);
            }
            return argv[++i];
        };
        if (a == "--size") size = std::atoi(next().c_str());
        else if (a == "--runs") runs = std::atoi(next().c_str());
        else if (a == "--threads") threads = std::atoi(next().c_str());
        else if (a == "--no-vae") vae = false;
        else if (a == "--profile") profile = true;
        else if (a == "--save") save = next();
        else {
            std::fprintf(stderr, "usage: %s [--size LATENT] [--runs N] [--threads N] [--no-vae] [--save DIR]\n", argv[0]);
            return 2;
        }
    }
    set_num_threads(threads);
    std::mt19937 g(1234);
    auto store = std::make_shared<WeightStore>();
    for (const char* part : {"encoder", "decoder"}) {
        auto tensors = taesd_tensors(part, g);
        if (!save.empty()) save_safetensors(save + "/taesd_" + part + ".safetensors", tensors);
        for (auto& [k, t] : tensors) store->add(taesd_internal_key(k, part), t);
    }
    // One binding per compute dtype: a weight keeps one prepared (reordered) copy per binding, so
    // alternating f32 and bf16 runs on one binding would re-prepare every weight each run.
    const TAESD taesd = TAESD::from_store(store, "random");
    const TAESD taesd_bf16 = TAESD::from_store(store, "random");
    std::shared_ptr<WeightStore> vstore;
    std::optional<VAE> full;
    if (vae) {
        vstore = random_vae(g);
        full.emplace(VAE::load(*vstore, VAEConfig::detect(*vstore, ModelHints{}, Family::SD1)));
    }
    const Tensor z = random_normal({1, 4, size, size}, 1.0, g);
    Ctx f32, bf16;
    bf16.compute_dtype = DType::BF16;
    struct Job {
        const char* name;
        std::function<void()> run;
        std::vector<double> t, cpu;
    };
    std::vector<Job> jobs = {
        {"TAESD decode f32", [&] { taesd.decode(f32, z); }, {}},
        {"TAESD decode bf16", [&] { taesd_bf16.decode(bf16, z); }, {}},
    };
    if (full) jobs.push_back({"SD VAE decode f32 (banded, what generate runs)", [&] { full->decode_banded(f32, z); }, {}});
    for (Job& j : jobs) j.run();  // warm-up: primitives and prepared weights
    if (profile) {  // backend wall time per op kind of one TAESD decode, f32 and bf16
        for (DType dt : {DType::F32, DType::BF16}) {
            ProfilingBackend pb(f32.be());
            Ctx pc;
            pc.backend = &pb;
            pc.compute_dtype = dt;
            const TAESD& t = dt == DType::BF16 ? taesd_bf16 : taesd;
            t.decode(pc, z);
            pb.reset();
            t.decode(pc, z);
            std::printf("profile, TAESD decode %s:\n", dt == DType::BF16 ? "bf16" : "f32");
            for (const OpProfile& o : pb.report()) std::printf("  %-28s %4lld calls %8.3f s\n", o.op.c_str(), (long long)o.calls, o.seconds);
        }
    }
    for (int r = 0; r < runs; ++r)
        for (Job& j : jobs) {
            const double t0 = now_s(), c0 = cpu_s();
            j.run();
            j.t.push_back(now_s() - t0);
            j.cpu.push_back((cpu_s() - c0) / threads);
        }
    std::printf("%dx%d image (latent %dx%d), %d threads, %d interleaved runs after a warm-up\n", size * 8, size * 8, size,
                size, threads, runs);
    const Stats base = stats(jobs[0].t), cbase = stats(jobs[0].cpu);
    for (Job& j : jobs) {
        const Stats s = stats(j.t), c = stats(j.cpu);
        std::printf("  %-48s wall median %8.3f s (%.3f-%.3f) %6.2fx | CPU/threads median %8.3f s (%.3f-%.3f) %6.2fx\n",
                    j.name, s.med, s.lo, s.hi, s.med / base.med, c.med, c.lo, c.hi, c.med / cbase.med);
    }
    std::printf("  (ratios against TAESD decode f32)\n");
    return 0;
}
