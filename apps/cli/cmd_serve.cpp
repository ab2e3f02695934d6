// `sdpp serve`: the HTTP server (apps/server, docs/server.md). Flags follow A1111's launch options
// where one exists (--port, --api-auth, --cors-allow-origins, --ckpt-dir as --models-dir).
#include "cli/command.h"
#include "cli/weight_cache_option.h"
#include "server/server.h"

#include <sdpp/error.hpp>
#include <sdpp/sdpp.hpp>

#include <cstdlib>
#include <filesystem>
#include <utility>
#include <memory>
#include <thread>

namespace sdpp::cli {
namespace {

struct ServeArgs {
    server::ServeOptions o;
    std::string weight_cache = "auto";
    double max_body_mb = 64;
    int max_queue = 16;
};

CommandRun setup(CLI::App& app) {
    auto a = std::make_shared<ServeArgs>();
    server::ServeOptions& o = a->o;
    app.option_defaults()->multi_option_policy(CLI::MultiOptionPolicy::TakeLast);
    app.add_option("-m,--model", o.model,
                   "Checkpoint or diffusers folder to load first (default: the first in --models-dir, else SD-Turbo)");
    app.add_option("--models-dir,--ckpt-dir", o.models_dir,
                   "Folder whose checkpoints clients may list and switch to (sd-models, sd_model_checkpoint)");
    app.add_option("--vae", o.model_options.vae, "VAE file or folder replacing the checkpoints'");
    app.add_option("--vocab", o.model_options.vocab, "CLIP vocabulary (vocab.json, merges.txt or bpe .txt.gz)");
    app.add_option("--host", o.host, "Address to listen on (0.0.0.0 = every interface)")->capture_default_str();
    app.add_option("--port", o.port, "Port (0 = any free port, printed at start)")->capture_default_str();
    app.add_option("--api-auth", o.api_auth,
                   "HTTP Basic credentials every route needs: user:pass[,user:pass...] (or $SDPP_API_AUTH, "
                   "which other users cannot read in the process list)");
    app.add_option("--cors-allow-origins", o.cors_allow_origins,
                   "Origins browsers may call from: comma-separated list, or *");
    app.add_option("--max-queue", a->max_queue, "Requests that may wait while one runs (more get 503)")
        ->capture_default_str();
    app.add_option("--max-body-mb", a->max_body_mb, "Largest request body in MiB (more gets 413)")->capture_default_str();
    app.add_option("--threads", o.model_options.threads, "Compute threads (0 = all cores)")->capture_default_str();
    app.add_option("--dtype", o.model_options.dtype, "Compute precision: f32 or bf16")->capture_default_str();
    app.add_option("--prediction", o.model_options.prediction, "Override prediction type: eps or v");
    app.add_option("--lora-dir", o.model_options.lora_dir,
                   "Folder of LoRA / LyCORIS networks that <lora:NAME> tags name (default: Lora or loras beside the model)");
    app.add_option("--embeddings-dir", o.model_options.embeddings_dir,
                   "Folder of textual-inversion embeddings (default: embeddings beside the model)");
    app.add_option("--taesd", o.model_options.taesd,
                   "TAESD (or TAESDXL) decoder for live previews: a diffusers AutoencoderTiny folder, a folder with "
                   "taesd_decoder.safetensors, or the file (without it previews are the cheap latent projection)");
    app.add_option("--preview-every", o.taesd_preview_every, "With --taesd: a TAESD preview every N sampler steps")
        ->capture_default_str();
    add_weight_cache_option(app, a->weight_cache);
    app.add_flag("-v,--verbose", o.verbose, "One line per request on stderr");
    return [a] {
        server::ServeOptions& o = a->o;
        if (a->max_queue < 0 || a->max_queue > 10000) throw error("--max-queue ", a->max_queue, " is out of range (0..10000)");
        if (!(a->max_body_mb > 0) || a->max_body_mb > 4096)
            throw error("--max-body-mb ", a->max_body_mb, " is out of range (0..4096]");
        if (o.port < 0 || o.port > 65535) throw error("--port ", o.port, " is out of range (0..65535)");
        const int cores = int(std::max(1u, std::thread::hardware_concurrency()));
        if (o.model_options.threads < 0 || o.model_options.threads > cores)
            throw error("--threads ", o.model_options.threads, " is out of range (0..", cores, ")");
        if (o.model_options.dtype != "f32" && o.model_options.dtype != "bf16")
            throw error("--dtype ", o.model_options.dtype, ": expected f32 or bf16");
        if (o.taesd_preview_every < 1 || o.taesd_preview_every > 10000)
            throw error("--preview-every ", o.taesd_preview_every, " is out of range (1..10000)");
        std::error_code ec;
        for (const auto& [flag, dir] : {std::pair{"--lora-dir", o.model_options.lora_dir},
                                        std::pair{"--embeddings-dir", o.model_options.embeddings_dir}})
            if (!dir.empty() && !std::filesystem::is_directory(dir, ec)) throw error(flag, " ", dir, ": no such folder");
        if (!o.model_options.taesd.empty() && !std::filesystem::exists(o.model_options.taesd, ec))
            throw error("--taesd ", o.model_options.taesd, ": no such file or folder");
        if (o.api_auth.empty())
            if (const char* env = std::getenv("SDPP_API_AUTH")) o.api_auth = env;
        o.max_queue = size_t(a->max_queue);
        o.max_body_bytes = size_t(a->max_body_mb * 1024 * 1024);
        o.model_options.weight_cache_mb = parse_weight_cache(a->weight_cache);
        return server::serve(o);
    };
}

const bool registered = register_command({"serve", "HTTP server with Automatic1111's API and a web page", setup});

}  // namespace
}  // namespace sdpp::cli
