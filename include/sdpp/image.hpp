// sdpp public API: the 8-bit image type requests and results carry (shared with src/io/image.h).
// Self-contained: includes nothing from src/.
#pragma once
#include <sdpp/export.h>

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace sdpp {

// Interleaved 8-bit pixels, row-major [height, width, channels]; channels is 3 (RGB) or 1 (gray).
struct SDPP_API Image {
    int width = 0;
    int height = 0;
    int channels = 3;
    std::vector<uint8_t> pixels;

    static Image blank(int width, int height, int channels = 3, uint8_t value = 0);
    bool empty() const { return pixels.empty(); }
    uint8_t& at(int x, int y, int c = 0) { return pixels[(size_t(y) * width + x) * channels + c]; }
    uint8_t at(int x, int y, int c = 0) const { return pixels[(size_t(y) * width + x) * channels + c]; }
};

// How an init image (and its mask) of another size is fitted to the target size (A1111 "Resize mode").
enum class ResizeMode {
    Just,           // "Just resize": stretch to the target size
    CropAndResize,  // "Crop and resize": scale to cover the target, crop the centre
    ResizeAndFill,  // "Resize and fill": scale to fit inside, fill the borders by stretching the edges
};
SDPP_API const char* resize_mode_name(ResizeMode m);         // "just resize", "crop and resize", "resize and fill"
SDPP_API ResizeMode parse_resize_mode(const std::string& s);  // those names, or "just" / "crop" / "fill"

}  // namespace sdpp
