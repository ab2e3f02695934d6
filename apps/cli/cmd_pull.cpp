// `sdpp pull REPO [FILE] [--revision R]`: downloads a model from the Hugging Face hub (or the hub
// SDPP_HUB_ENDPOINT names) into the cache and prints its local path on stdout. See docs/hub.md.
#include "cli/command.h"
#include "core/log.h"
#include "hub/pull.h"

#include <cstdio>
#include <memory>
#include <string>

namespace sdpp::cli {
namespace {

struct PullArgs {
    std::string repo, file, revision = "main", variant = "fp16";
    bool quiet = false;
};

CommandRun setup(CLI::App& app) {
    auto a = std::make_shared<PullArgs>();
    app.add_option("repo", a->repo, "Hub repo id, e.g. stabilityai/sd-turbo")->required();
    app.add_option("file", a->file,
                   "One file of the repo to pull (e.g. a single-file checkpoint); "
                   "default: the whole diffusers model, or the repo's only checkpoint");
    app.add_option("--revision", a->revision, "Branch, tag or commit")->capture_default_str();
    app.add_option("--variant", a->variant,
                   "Preferred diffusers weights variant; 'none' for full-precision files only")
        ->capture_default_str();
    app.add_flag("-q,--quiet", a->quiet, "No progress output");
    app.footer("Cache: $XDG_CACHE_HOME/sdpp (else ~/.cache/sdpp). Hub: $SDPP_HUB_ENDPOINT (default "
               "https://huggingface.co). Token: $HF_TOKEN.");
    return [a] {
        hub::HubConfig cfg = hub::hub_config_from_env();
        hub::PullOptions o;
        o.revision = a->revision;
        o.variant = a->variant == "none" ? "" : a->variant;
        o.progress = a->quiet || log_level() == LogLevel::Quiet ? hub::ProgressMode::None : hub::ProgressMode::Auto;
        hub::PullResult r = hub::pull(cfg, a->repo, a->file, o);
        std::printf("%s\n", r.path.c_str());
        return kExitOk;
    };
}

const bool registered = register_command({"pull", "Download a model from the Hugging Face hub into the cache", setup});

}  // namespace
}  // namespace sdpp::cli
