// The TAESD, preview and masked-content flags of `sdpp generate` (docs/cli.md):
//   --vae-decoder full | taesd PATH   decode the final image with the model's VAE or TAESD
//   --taesd PATH                      load TAESD for previews only
//   --preview FILE                    write a preview PNG during sampling (replaced as it goes)
//   --preview-every N                 every N sampler steps (default 1 with --preview)
//   --preview-method auto|taesd|cheap how previews are made (auto: TAESD when loaded, else cheap)
//   --inpaint-fill fill|original|latent-noise|latent-nothing   A1111 "Masked content"
// Public API only (checked by tests/scripts/check_cli_public_api.sh).
#pragma once
#include <sdpp/sdpp.hpp>

#include <CLI/CLI.hpp>

#include <string>
#include <vector>

namespace sdpp::cli {

struct PreviewArgs {
    std::vector<std::string> vae_decoder;  // {"full"} or {"taesd", PATH}
    std::string taesd;
    std::string preview;
    int preview_every = 0;
    std::string preview_method = "auto";
    std::string inpaint_fill;
    CLI::Option* fill_opt = nullptr;
    CLI::Option* every_opt = nullptr;

    void add(CLI::App& app);
    // Flag checks before anything loads: one-line sdpp::Error (exit 2).
    void check(bool overwrite, bool has_mask) const;
    // Into the request (fill_from_png: keep the PNG's masked content unless the flag was given).
    void apply(GenerateRequest& r, bool from_png) const;
    // The TAESD path for ModelOptions::taesd ("" = none).
    std::string taesd_path() const;
    // Writes the progress's preview picture to --preview (no-op without one).
    void write_preview(const Progress& p) const;
};

}  // namespace sdpp::cli
