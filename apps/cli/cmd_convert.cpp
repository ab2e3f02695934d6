// `sdpp convert IN OUT [--dtype f16|f32|bf16] [--vae F] [--prediction v|eps] [--overwrite]`: a
// diffusers folder, .ckpt or .safetensors (any layout) to one .safetensors in the family's
// original single-file layout (src/model/convert.h), optionally baking in a VAE or changing dtype.
#include "cli/command.h"
#include "core/error.h"
#include "tools/convert.h"
#include "model/loader.h"

#include <cstdio>
#include <memory>

namespace sdpp::cli {
namespace {

struct Args {
    std::string in, out, dtype, vae, prediction;
    bool overwrite = false;
};

CommandRun setup(CLI::App& app) {
    auto a = std::make_shared<Args>();
    app.add_option("input", a->in, "Checkpoint file or diffusers folder")->required();
    app.add_option("output", a->out, "Output .safetensors file")->required();
    app.add_option("--dtype", a->dtype, "Weight dtype (default: keep)")->check(CLI::IsMember({"f16", "f32", "bf16"}));
    app.add_option("--vae", a->vae, "VAE file or diffusers vae/ folder to bake in");
    app.add_option("--prediction", a->prediction, "Record this prediction type")->check(CLI::IsMember({"v", "eps"}));
    app.add_flag("--overwrite", a->overwrite, "Replace an existing output file");
    return [a] {
        LoadOptions lo;
        if (!a->vae.empty()) lo.vae_path = a->vae;
        if (!a->prediction.empty()) lo.prediction = a->prediction == "v" ? Prediction::V : Prediction::Eps;
        LoadedModel m = load_model(a->in, lo);
        ConvertOptions co;
        if (!a->dtype.empty()) co.dtype = parse_dtype(a->dtype);
        co.overwrite = a->overwrite;
        ConvertStats st = convert_model(m, a->out, co);
        std::printf("wrote %s: %s %s layout, %lld tensors, %.2f GB\n", a->out.c_str(), family_name(m.family),
                    m.family == Family::SDXL || m.family == Family::SDXLRefiner ? "sgm" : "ldm",
                    static_cast<long long>(st.n_tensors), double(st.bytes) / 1e9);
        return kExitOk;
    };
}

const bool registered =
    register_command({"convert", "Convert a model (diffusers folder, .ckpt, .safetensors) to one original-layout .safetensors", setup});

}  // namespace
}  // namespace sdpp::cli
