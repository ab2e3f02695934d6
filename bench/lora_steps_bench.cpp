// LoRA per-step cost (docs/performance.md "LoRA / LyCORIS"): one Engine, requests alternating
// without and with a network; each request's sampler steps are timed from the progress callback and
// the median of steps 2..N is that request's steady step time (step 1 pays the weight preparation
// after every rebind). Also the "networks" stage (read + merge) of every request that merged.
//   sdpp_bench_lora_steps MODEL VOCAB LORA_FILE [PAIRS=4] [SIZE=128] [STEPS=6] [MULT=0.8]
#include <sdpp/sdpp.hpp>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

namespace {

double median(std::vector<double> v) {
    std::sort(v.begin(), v.end());
    return v.empty() ? 0 : v.size() % 2 ? v[v.size() / 2] : 0.5 * (v[v.size() / 2 - 1] + v[v.size() / 2]);
}

}  // namespace

int main(int argc, char** argv) {
    if (argc < 4) {
        std::fprintf(stderr, "usage: %s MODEL VOCAB LORA_FILE [PAIRS] [SIZE] [STEPS] [MULT]\n", argv[0]);
        return 2;
    }
    const int pairs = argc > 4 ? std::atoi(argv[4]) : 4, size = argc > 5 ? std::atoi(argv[5]) : 128;
    const int steps = argc > 6 ? std::atoi(argv[6]) : 6;
    const float mult = argc > 7 ? float(std::atof(argv[7])) : 0.8f;
    try {
        sdpp::ModelOptions mo;
        mo.model = argv[1];
        mo.vocab = argv[2];
        mo.threads = 2;
        sdpp::Engine engine(mo);
        std::vector<double> plain, lora, merge, ratios;
        for (int p = 0; p < pairs; ++p) {
            double step_med[2] = {0, 0};
            for (int with = 0; with < 2; ++with) {
                sdpp::GenerateRequest r;
                r.prompt = "a photo of a cat";
                r.width = r.height = size;
                r.steps = steps;
                r.sampler = "euler";
                r.seed = 1;
                r.decode = false;
                if (with) r.loras.push_back({argv[3], mult, mult});
                std::vector<double> at(size_t(steps) + 1, -1.0);  // at[k]: when k steps were done (last report)
                const auto t0 = std::chrono::steady_clock::now();
                sdpp::GenerateResult res = engine.generate(r, [&](const sdpp::Progress& pr) {
                    if (pr.stage == "sample" && pr.step >= 0 && pr.step <= steps)
                        at[size_t(pr.step)] = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
                    return true;
                });
                std::vector<double> per;  // steps 2..N: step 1 prepares the weights
                for (int k = 2; k <= steps; ++k)
                    if (at[size_t(k)] >= 0 && at[size_t(k - 1)] >= 0) per.push_back(at[size_t(k)] - at[size_t(k - 1)]);
                step_med[with] = median(per);
                (with ? lora : plain).push_back(step_med[with]);
                for (const auto& t : res.timings)
                    if (t.stage == "networks" && with) merge.push_back(t.seconds);
            }
            ratios.push_back(step_med[1] / step_med[0]);
            std::printf("pair %d: step plain %.3f s, lora %.3f s, ratio %.3f\n", p, step_med[0], step_med[1], ratios.back());
            std::fflush(stdout);
        }
        std::printf("median step: plain %.3f s, lora %.3f s; median of pair ratios %.3f; networks stage median %.2f s\n",
                    median(plain), median(lora), median(ratios), median(merge));
    } catch (const sdpp::Error& e) {
        std::fprintf(stderr, "error: %s\n", e.what());
        return 2;
    }
    return 0;
}
