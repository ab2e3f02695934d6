// Images in and out: PNG (libpng) with text chunks, JPEG (libjpeg) decoding, conversion between
// 8-bit images and the [-1, 1] float tensors the VAE uses, and the init-image / mask preparation
// A1111 does before img2img and inpainting.
//
// Mirrors: diffusers image_processor.VaeImageProcessor (normalize / postprocess rounding),
// A1111 modules/images.py resize_image (the three resize modes), A1111 processing.py
// StableDiffusionProcessingImg2Img.init (mask blur = cv2.GaussianBlur with kernel 2*int(2.5*s+0.5)+1),
// PIL PngImagePlugin (tEXt when the value is Latin-1, iTXt otherwise).
#pragma once
#include "core/tensor.h"

#include <sdpp/image.hpp>

#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace sdpp {

// A decoded file: always 8-bit RGB (alpha dropped, gray expanded, 16-bit scaled, palette applied),
// plus its PNG text chunks (tEXt/zTXt/iTXt, key -> UTF-8 value; empty for JPEG).
struct ImageFile {
    Image image;
    std::map<std::string, std::string> text;
};

// Reads a PNG or JPEG (chosen by the file's magic bytes). Errors: "<path>: <reason>".
ImageFile read_image_file(const std::string& path);
Image read_image(const std::string& path);
// Decoders over bytes in memory; `name` is used in error messages. decode_image_bytes chooses
// PNG or JPEG by the magic bytes, as read_image_file does.
ImageFile decode_image_bytes(const uint8_t* data, size_t size, const std::string& name);
ImageFile decode_png(const uint8_t* data, size_t size, const std::string& name);
Image decode_jpeg(const uint8_t* data, size_t size, const std::string& name);

// PNG text chunk to write. Written as tEXt when the value is representable in Latin-1 (PIL's
// add_text does the same), else as uncompressed iTXt in UTF-8.
struct PngText {
    std::string key;
    std::string value;  // UTF-8
};
// Encodes an 8-bit RGB or gray image.
std::vector<uint8_t> encode_png(const Image& image, const std::vector<PngText>& text = {});
// Encodes and writes `path` (temporary file + rename). Without `overwrite` an existing file is an
// error and is never replaced (the final link is atomic, so a race cannot clobber either).
void write_png(const std::string& path, const Image& image, const std::vector<PngText>& text = {},
               bool overwrite = false);
// Writes `bytes` to `path` the same way (temp file in the same folder, then rename or link).
void write_file_atomic(const std::string& path, const void* bytes, size_t size, bool overwrite);
// Encodes a JPEG (libjpeg, quality 1..100). Used by tests and thumbnails.
std::vector<uint8_t> encode_jpeg(const Image& image, int quality = 95);

// ---- tensors ----------------------------------------------------------------------------------
// RGB image -> [1, 3, H, W] f32 in [-1, 1]: x / 255 * 2 - 1 (diffusers VaeImageProcessor.normalize).
Tensor image_to_tensor(const Image& image);
// Gray image -> [1, 1, H, W] f32 in [0, 1].
Tensor mask_to_tensor(const Image& mask);
// [N, 3, H, W] in [-1, 1] -> N RGB images with diffusers' rounding:
// round((x / 2 + 0.5).clamp(0, 1) * 255), computed in f32, ties to even (numpy round).
std::vector<Image> tensor_to_images(const Tensor& images);

// ---- init image / mask preparation --------------------------------------------------------------
// ResizeMode (A1111's "Resize mode"), resize_mode_name and parse_resize_mode are declared in
// include/sdpp/image.hpp.

// Lanczos-3 resampling with PIL's conventions (support widened when downscaling, pixel centres at
// +0.5, weights normalised, result rounded and clamped). Any channel count.
Image resize_lanczos(const Image& image, int width, int height);
// The same with PIL's bicubic filter (a = -0.5, support 2): PIL's default for Image.resize, which
// A1111 uses to shrink the inpainting mask to latent size.
Image resize_bicubic(const Image& image, int width, int height);
// Resizes `image` to width x height the way A1111's images.resize_image does for `mode`.
Image resize_image(const Image& image, int width, int height, ResizeMode mode);

// Crop [x, x+w) x [y, y+h); the rectangle must lie inside the image.
Image crop(const Image& image, int x, int y, int w, int h);
// Copies `src` onto `dst` with its top-left corner at (x, y), clipped to dst.
void paste(Image& dst, const Image& src, int x, int y);
// dst = dst * (1 - a) + src * a per pixel, a = alpha / 255 (gray, same size as dst); rounded.
void composite(Image& dst, const Image& src, const Image& alpha);

Image to_gray(const Image& image);  // ITU-R 601-2 luma like PIL's convert("L")
Image to_rgb(const Image& image);   // gray -> RGB; RGB unchanged
Image invert(const Image& image);   // 255 - v

// Separable Gaussian blur like A1111's mask blur: kernel size 2*int(2.5*sigma+0.5)+1 with standard
// deviation sigma, OpenCV's BORDER_REFLECT_101, rounded to 8 bits. sigma <= 0 returns the input.
Image gaussian_blur(const Image& image, float sigma_x, float sigma_y);

// Outpainting: grows the canvas by left/top/right/bottom pixels. The new area is filled by
// repeating the nearest edge pixel; `mask` (gray, same size as the result) is 255 on the new area.
struct PaddedCanvas {
    Image image;
    Image mask;
};
PaddedCanvas pad_canvas(const Image& image, int left, int top, int right, int bottom);

// Bounding box of mask pixels > threshold, as [x0, y0, x1, y1); nullopt-like {0,0,0,0} when empty.
struct Box {
    int x0 = 0, y0 = 0, x1 = 0, y1 = 0;
    int width() const { return x1 - x0; }
    int height() const { return y1 - y0; }
    bool empty() const { return x1 <= x0 || y1 <= y0; }
};
Box mask_bounding_box(const Image& mask, uint8_t threshold = 0);

}  // namespace sdpp
