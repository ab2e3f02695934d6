// `sdpp make-random-lora MODEL -o FILE [--rank 32] [--alpha 16] [--conv-rank 16] [--conv-alpha 8]
// [--seed N] [--overwrite]`: a kohya LoRA / LoCon file with random factors for MODEL, every module
// sd-scripts trains with conv_dim set (src/tools/random_lora.h), for benchmarks.
#include "cli/command.h"
#include "tools/random_lora.h"

#include <cstdio>
#include <memory>

namespace sdpp::cli {
namespace {

struct Args {
    std::string model, out;
    RandomLoraOptions o;
};

CommandRun setup(CLI::App& app) {
    auto a = std::make_shared<Args>();
    app.add_option("model", a->model, "Checkpoint the network is for")->required();
    app.add_option("-o,--output", a->out, "Output .safetensors file")->required();
    app.add_option("--rank", a->o.rank, "Rank of linear and 1x1 modules")->capture_default_str();
    app.add_option("--alpha", a->o.alpha, "Alpha of linear and 1x1 modules")->capture_default_str();
    app.add_option("--conv-rank", a->o.conv_rank, "Rank of 3x3 convolutions")->capture_default_str();
    app.add_option("--conv-alpha", a->o.conv_alpha, "Alpha of 3x3 convolutions")->capture_default_str();
    app.add_option("--seed", a->o.seed, "Random seed")->capture_default_str();
    app.add_flag("--overwrite", a->o.overwrite, "Replace an existing output file");
    return [a] {
        RandomLoraStats st = write_random_lora(a->model, a->out, a->o);
        std::printf("wrote %s: %d U-Net + %d text-encoder modules, %lld parameters\n", a->out.c_str(), st.unet_modules,
                    st.te_modules, static_cast<long long>(st.params));
        return kExitOk;
    };
}

const bool registered = register_command(
    {"make-random-lora", "Write a random kohya LoRA / LoCon file for a model (every trainable module)", setup});

}  // namespace
}  // namespace sdpp::cli
