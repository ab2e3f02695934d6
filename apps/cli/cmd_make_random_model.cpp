// `sdpp make-random-model --arch sd15|sd15-inpaint|sd21|sd21-v|sdxl [--dtype f16|f32|bf16] [--seed N]
// -o FILE [--overwrite] [--tiny]`: a full-size checkpoint with random weights and the exact key
// names and shapes of the real release (src/model/random_model.h), for benchmarks. --tiny writes
// the same structure at the size of the test fixtures' tiny models.
#include "cli/command.h"
#include "core/error.h"
#include "tools/random_model.h"

#include <chrono>
#include <cstdio>
#include <memory>

namespace sdpp::cli {
namespace {

struct Args {
    std::string arch, dtype = "f16", out;
    uint64_t seed = 0;
    bool overwrite = false, tiny = false;
};

CommandRun setup(CLI::App& app) {
    auto a = std::make_shared<Args>();
    app.add_option("--arch", a->arch, "Architecture")->required()->check(CLI::IsMember(arch_names()));
    app.add_option("--dtype", a->dtype, "Weight dtype (schedule buffers stay f32)")
        ->check(CLI::IsMember({"f16", "f32", "bf16"}))
        ->capture_default_str();
    app.add_option("--seed", a->seed, "Random seed")->capture_default_str();
    app.add_option("-o,--output", a->out, "Output .safetensors file")->required();
    app.add_flag("--overwrite", a->overwrite, "Replace an existing output file");
    app.add_flag("--tiny", a->tiny, "Tiny widths (the fixtures' tiny models) instead of the full size");
    return [a] {
        RandomModelOptions o;
        o.dtype = parse_dtype(a->dtype);
        o.seed = a->seed;
        o.overwrite = a->overwrite;
        const auto t0 = std::chrono::steady_clock::now();
        RandomModelStats st = write_random_model(arch_preset(a->arch, a->tiny), a->out, o);
        const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
        std::printf("wrote %s: %s%s, %lld tensors, %lld parameters, %.2f GB (%s) in %.1f s\n", a->out.c_str(),
                    a->arch.c_str(), a->tiny ? " (tiny)" : "", static_cast<long long>(st.n_tensors),
                    static_cast<long long>(st.n_params), double(st.bytes) / 1e9, a->dtype.c_str(), s);
        return kExitOk;
    };
}

const bool registered = register_command(
    {"make-random-model", "Write a random-weight checkpoint with a real release's exact layout", setup});

}  // namespace
}  // namespace sdpp::cli
