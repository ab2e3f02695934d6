// Public file helpers: PNG with the A1111 "parameters" chunk (src/io/image.h), init images / masks
// (PNG or JPEG) with their parameters, latents as safetensors, and the library's log level.
#include "core/log.h"
#include "io/image.h"
#include "io/safetensors.h"

#include <sdpp/sdpp.hpp>

namespace sdpp {

void save_png(const std::string& path, const GeneratedImage& image, bool overwrite) {
    std::vector<PngText> text;
    if (!image.parameters.empty()) text.push_back({"parameters", image.parameters});
    write_png(path, image.image, text, overwrite);
}

Image load_image(const std::string& path, std::string* parameters) {
    ImageFile f = read_image_file(path);
    if (parameters) {
        auto it = f.text.find("parameters");
        *parameters = it == f.text.end() ? std::string() : it->second;
    }
    return std::move(f.image);
}

void save_latent(const std::string& path, const Latent& latent, const std::string& parameters, bool overwrite) {
    Shape shape(latent.shape.begin(), latent.shape.end());
    Tensor t = Tensor::from_vector(latent.data, shape);
    std::map<std::string, std::string> meta;
    if (!parameters.empty()) meta["parameters"] = parameters;
    save_safetensors(path, {{"latent", t}}, meta, overwrite);
}

void set_verbosity(int level) {
    set_log_level(level <= 0   ? LogLevel::Error
                  : level == 1 ? LogLevel::Info
                  : level == 2 ? LogLevel::Debug
                               : LogLevel::Trace);
}

}  // namespace sdpp
