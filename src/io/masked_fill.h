// A1111's "fill" masked content (modules/masking.py fill): the masked area of the init image is
// replaced by colours spread in from around it, by compositing ever less blurred copies of the
// unmasked pixels (premultiplied RGBa, PIL GaussianBlur radii 256, 64, 16 x2, 4 x4, 2 x2, 0) over a
// transparent canvas. Integer-exact to Pillow 9.4: ImageFilter.GaussianBlur = three box-blur passes
// per axis with a fractional box radius (libImaging/BoxBlur.c, 8.24 fixed point, edge pixels
// repeated), RGBa <-> RGBA conversion (Convert.c), paste with an "L" mask and alpha_composite
// (Paste.c, AlphaComposite.c).
#pragma once
#include <sdpp/image.hpp>

namespace sdpp {

// image: RGB; mask: gray of the same size (255 = masked, i.e. repainted). Returns the RGB image
// A1111 encodes for inpainting_fill 0 ("fill"), 2 and 3.
Image masked_fill(const Image& image, const Image& mask);

// PIL Image.filter(GaussianBlur(radius)) on an interleaved 8-bit image of any channel count
// (exposed for tests).
Image pil_gaussian_blur(const Image& image, float radius);

}  // namespace sdpp
