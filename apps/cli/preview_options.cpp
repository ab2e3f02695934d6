// See preview_options.h.
#include "cli/preview_options.h"

#include "cli/output_files.h"

#include <sdpp/error.hpp>

#include <filesystem>

namespace sdpp::cli {

namespace fs = std::filesystem;

void PreviewArgs::add(CLI::App& app) {
    app.add_option("--vae-decoder", vae_decoder, "Final decode: full (the model's VAE) or taesd PATH (tiny, fast)")
        ->expected(1, 2);
    app.add_option("--taesd", taesd, "TAESD weights for previews (diffusers AutoencoderTiny folder or taesd_decoder.safetensors)");
    app.add_option("--preview", preview, "Write a preview PNG during sampling (TAESD if loaded, else a cheap linear one)");
    every_opt = app.add_option("--preview-every", preview_every, "Preview every N sampler steps (default 1 with --preview)");
    app.add_option("--preview-method", preview_method, "Preview: auto, taesd, cheap")->capture_default_str();
    fill_opt = app.add_option("--inpaint-fill", inpaint_fill,
                              "Masked content (A1111): fill, original (default), latent-noise, latent-nothing");
}

std::string PreviewArgs::taesd_path() const {
    if (vae_decoder.size() == 2 && vae_decoder[0] == "taesd") return vae_decoder[1];
    return taesd;
}

void PreviewArgs::check(bool overwrite, bool has_mask) const {
    if (!vae_decoder.empty()) {
        const std::string& kind = vae_decoder[0];
        if (kind == "full") {
            if (vae_decoder.size() != 1) throw error("--vae-decoder full takes no path");
        } else if (kind == "taesd") {
            if (vae_decoder.size() != 2) throw Error("--vae-decoder taesd needs the TAESD weights: --vae-decoder taesd PATH");
            if (!taesd.empty() && taesd != vae_decoder[1]) throw Error("--taesd and --vae-decoder taesd name different files");
        } else {
            throw error("unknown VAE decoder '", kind, "' (full, or taesd PATH)");
        }
    }
    std::error_code ec;
    const std::string path = taesd_path();
    if (!path.empty()) {
        const char* what = taesd.empty() ? "--vae-decoder taesd" : "--taesd";
        if (!fs::exists(path, ec)) throw error(what, " ", path, ": no such file or folder");
        check_model_file(path, what);
    }
    if (every_opt->count() > 0 && preview_every < 1) throw error("--preview-every ", preview_every, " must be >= 1");
    if (every_opt->count() > 0 && preview.empty()) throw Error("--preview-every needs --preview FILE");
    if (preview_method != "auto" && preview_method != "taesd" && preview_method != "cheap")
        throw error("unknown --preview-method '", preview_method, "' (auto, taesd or cheap)");
    if (preview_method == "taesd" && path.empty()) throw Error("--preview-method taesd needs --taesd PATH");
    if (!preview.empty()) {
        const fs::path ext = fs::path(preview).extension();
        if (ext != ".png" && ext != ".PNG") throw error("--preview ", preview, ": only .png is written");
        check_writable(preview, overwrite, "--preview");
    }
    if (fill_opt->count() > 0) {
        parse_inpaint_fill(inpaint_fill);  // throws for an unknown name
        if (!has_mask) throw Error("--inpaint-fill needs --mask (or --outpaint)");
    }
}

void PreviewArgs::apply(GenerateRequest& r, bool from_png) const {
    if (!from_png || fill_opt->count() > 0) r.inpaint_fill = inpaint_fill.empty() ? InpaintFill::Original : parse_inpaint_fill(inpaint_fill);
    if (!vae_decoder.empty()) r.vae_decoder = vae_decoder[0];
    if (!preview.empty()) r.preview_every = preview_every > 0 ? preview_every : 1;
    r.preview_method = preview.empty() ? "none" : preview_method;
}

void PreviewArgs::write_preview(const Progress& p) const {
    if (preview.empty() || !p.preview_image) return;
    GeneratedImage g;
    g.image = *p.preview_image;
    save_png(preview, g, true);  // temporary file + rename: a viewer never sees half a file
}

}  // namespace sdpp::cli
