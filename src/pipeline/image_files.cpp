// Public file helpers: PNG with the A1111 "parameters" chunk (src/io/image.h), init images / masks
// (PNG or JPEG) with their parameters, from files or memory, and latents as safetensors.
#include "io/image.h"
#include "io/safetensors.h"

#include <sdpp/sdpp.hpp>

namespace sdpp {

namespace {

std::vector<PngText> parameters_chunk(const GeneratedImage& image) {
    if (image.parameters.empty()) return {};
    return {{"parameters", image.parameters}};
}

Image take_image(ImageFile& f, std::string* parameters) {
    if (parameters) {
        auto it = f.text.find("parameters");
        *parameters = it == f.text.end() ? std::string() : it->second;
    }
    return std::move(f.image);
}

}  // namespace

void save_png(const std::string& path, const GeneratedImage& image, bool overwrite) {
    write_png(path, image.image, parameters_chunk(image), overwrite);
}

std::vector<uint8_t> encode_png(const GeneratedImage& image) { return encode_png(image.image, parameters_chunk(image)); }

Image load_image(const std::string& path, std::string* parameters) {
    ImageFile f = read_image_file(path);
    return take_image(f, parameters);
}

Image decode_image(const uint8_t* data, size_t size, std::string* parameters) {
    ImageFile f = decode_image_bytes(data, size, "image data");
    return take_image(f, parameters);
}

void save_latent(const std::string& path, const Latent& latent, const std::string& parameters, bool overwrite) {
    Shape shape(latent.shape.begin(), latent.shape.end());
    Tensor t = Tensor::from_vector(latent.data, shape);
    std::map<std::string, std::string> meta;
    if (!parameters.empty()) meta["parameters"] = parameters;
    save_safetensors(path, {{"latent", t}}, meta, overwrite);
}

}  // namespace sdpp
