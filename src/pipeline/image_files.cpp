// Public image file helpers over src/io/image.h: PNG with the A1111 "parameters" chunk, and
// reading init images / masks (PNG or JPEG) with their parameters.
#include "io/image.h"

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

}  // namespace sdpp
