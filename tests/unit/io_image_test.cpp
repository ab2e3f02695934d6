// Image codecs and pixel helpers: PNG round trip with text chunks (tEXt and iTXt), PNG variants
// (gray, palette, RGBA, 16-bit) decoded to 8-bit RGB, JPEG decode of a file libjpeg wrote,
// corrupt files -> one-line sdpp::Error naming the file, no-overwrite writes, diffusers rounding,
// resize modes, mask blur.
#include "io/image.h"

#include <gtest/gtest.h>
#include <png.h>

#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <random>

using namespace sdpp;
namespace fs = std::filesystem;

namespace {

fs::path temp_dir() {
    fs::path d = fs::temp_directory_path() / ("sdpp_io_image_test_" + std::to_string(::getpid()));
    fs::create_directories(d);
    return d;
}

Image pattern(int w, int h) {
    Image im = Image::blank(w, h, 3);
    for (int y = 0; y < h; ++y)
        for (int x = 0; x < w; ++x) {
            im.at(x, y, 0) = uint8_t(x * 255 / std::max(w - 1, 1));
            im.at(x, y, 1) = uint8_t(y * 255 / std::max(h - 1, 1));
            im.at(x, y, 2) = uint8_t((x * 7 + y * 13) & 255);
        }
    return im;
}

void write_bytes(const fs::path& p, const std::vector<uint8_t>& b) {
    std::ofstream os(p, std::ios::binary);
    os.write(reinterpret_cast<const char*>(b.data()), std::streamsize(b.size()));
}

// Writes a PNG of any libpng colour type with libpng directly (our encoder only writes RGB/gray 8).
std::vector<uint8_t> raw_png(int w, int h, int color_type, int bit_depth, const std::vector<uint8_t>& data,
                             const std::vector<png_color>& palette = {}) {
    std::vector<uint8_t> out;
    png_structp png = png_create_write_struct(PNG_LIBPNG_VER_STRING, nullptr, nullptr, nullptr);
    png_infop info = png_create_info_struct(png);
    png_set_write_fn(
        png, &out,
        [](png_structp p, png_bytep d, png_size_t n) {
            auto* v = static_cast<std::vector<uint8_t>*>(png_get_io_ptr(p));
            v->insert(v->end(), d, d + n);
        },
        nullptr);
    png_set_IHDR(png, info, w, h, bit_depth, color_type, PNG_INTERLACE_NONE, PNG_COMPRESSION_TYPE_DEFAULT,
                 PNG_FILTER_TYPE_DEFAULT);
    if (!palette.empty()) png_set_PLTE(png, info, palette.data(), int(palette.size()));
    png_write_info(png, info);
    size_t row = data.size() / size_t(h);
    for (int y = 0; y < h; ++y) png_write_row(png, data.data() + row * size_t(y));
    png_write_end(png, info);
    png_destroy_write_struct(&png, &info);
    return out;
}

}  // namespace

TEST(IoImage, PngRoundTripWithText) {
    fs::path dir = temp_dir();
    Image im = pattern(37, 21);
    std::string params = "a cat, on a sofa\nNegative prompt: blurry\nSteps: 20, Sampler: Euler a, Seed: 42";
    std::string unicode = "ein Bild \xE2\x80\x94 \xE7\x8C\xAB";  // em dash + CJK: needs iTXt
    std::string latin = "caf\xC3\xA9";                              // é: fits tEXt (Latin-1)
    fs::path p = dir / "rt.png";
    fs::remove(p);
    write_png(p.string(), im, {{"parameters", params}, {"comment", unicode}, {"latin", latin}});
    ImageFile f = read_image_file(p.string());
    EXPECT_EQ(f.image.width, 37);
    EXPECT_EQ(f.image.height, 21);
    EXPECT_EQ(f.image.pixels, im.pixels);
    EXPECT_EQ(f.text.at("parameters"), params);
    EXPECT_EQ(f.text.at("comment"), unicode);
    EXPECT_EQ(f.text.at("latin"), latin);

    // The Latin-1 value is stored as tEXt with the byte 0xE9, the other as iTXt.
    std::ifstream is(p, std::ios::binary);
    std::string bytes((std::istreambuf_iterator<char>(is)), std::istreambuf_iterator<char>());
    EXPECT_NE(bytes.find(std::string("tEXtlatin\0caf\xE9", 14)), std::string::npos);
    EXPECT_NE(bytes.find("iTXtcomment"), std::string::npos);
    EXPECT_NE(bytes.find("tEXtparameters"), std::string::npos);
    fs::remove_all(dir);
}

TEST(IoImage, NeverOverwritesUnlessAsked) {
    fs::path dir = temp_dir();
    fs::path p = dir / "keep.png";
    fs::remove(p);
    write_png(p.string(), pattern(8, 8));
    auto before = fs::file_size(p);
    try {
        write_png(p.string(), pattern(16, 16));
        FAIL() << "expected an error";
    } catch (const Error& e) {
        EXPECT_NE(std::string(e.what()).find("keep.png"), std::string::npos);
        EXPECT_NE(std::string(e.what()).find("exists"), std::string::npos);
    }
    EXPECT_EQ(fs::file_size(p), before);
    write_png(p.string(), pattern(16, 16), {}, /*overwrite=*/true);
    EXPECT_EQ(read_image(p.string()).width, 16);
    // No temporary files left behind.
    int n = 0;
    for (auto& e : fs::directory_iterator(dir)) n += e.path().filename().string().rfind(".keep", 0) == 0;
    EXPECT_EQ(n, 0);
    EXPECT_THROW(write_png((dir / "no_such_dir" / "x.png").string(), pattern(4, 4)), Error);
    fs::remove_all(dir);
}

TEST(IoImage, PngVariantsDecodeToRgb8) {
    fs::path dir = temp_dir();
    // gray 8
    std::vector<uint8_t> g = {0, 100, 200, 255};
    std::vector<uint8_t> b = raw_png(2, 2, PNG_COLOR_TYPE_GRAY, 8, g);
    ImageFile f = decode_png(b.data(), b.size(), "g");
    ASSERT_EQ(f.image.channels, 3);
    EXPECT_EQ(f.image.at(1, 0, 0), 100);
    EXPECT_EQ(f.image.at(1, 0, 2), 100);
    // RGBA: alpha dropped
    std::vector<uint8_t> rgba = {10, 20, 30, 0, 40, 50, 60, 255};
    b = raw_png(2, 1, PNG_COLOR_TYPE_RGBA, 8, rgba);
    f = decode_png(b.data(), b.size(), "rgba");
    EXPECT_EQ(f.image.pixels, (std::vector<uint8_t>{10, 20, 30, 40, 50, 60}));
    // 16-bit RGB: high byte kept (value 0x1234 -> 0x12 after rounding 0x1234/257 = 18.1)
    std::vector<uint8_t> rgb16 = {0x12, 0x34, 0xFF, 0xFF, 0x00, 0x00};
    b = raw_png(1, 1, PNG_COLOR_TYPE_RGB, 16, rgb16);
    f = decode_png(b.data(), b.size(), "rgb16");
    EXPECT_EQ(f.image.pixels, (std::vector<uint8_t>{0x12, 0xFF, 0x00}));
    // palette, 8-bit indices
    std::vector<png_color> pal = {{1, 2, 3}, {200, 100, 50}};
    std::vector<uint8_t> idx = {1, 0};
    b = raw_png(2, 1, PNG_COLOR_TYPE_PALETTE, 8, idx, pal);
    f = decode_png(b.data(), b.size(), "pal");
    EXPECT_EQ(f.image.pixels, (std::vector<uint8_t>{200, 100, 50, 1, 2, 3}));
    // 1-bit gray: 0 -> 0, 1 -> 255
    std::vector<uint8_t> bits = {0b10000000};
    b = raw_png(2, 1, PNG_COLOR_TYPE_GRAY, 1, bits);
    f = decode_png(b.data(), b.size(), "bits");
    EXPECT_EQ(f.image.pixels, (std::vector<uint8_t>{255, 255, 255, 0, 0, 0}));
    fs::remove_all(dir);
}

TEST(IoImage, JpegDecode) {
    fs::path dir = temp_dir();
    Image im = pattern(40, 24);
    fs::path p = dir / "x.jpg";
    write_bytes(p, encode_jpeg(im, 95));
    Image back = read_image(p.string());
    ASSERT_EQ(back.width, 40);
    ASSERT_EQ(back.height, 24);
    ASSERT_EQ(back.channels, 3);
    double err = 0;
    for (size_t i = 0; i < im.pixels.size(); ++i) err += std::abs(int(im.pixels[i]) - int(back.pixels[i]));
    EXPECT_LT(err / double(im.pixels.size()), 6.0);  // lossy, but close at quality 95
    // gray JPEG expands to RGB
    Image gray = to_gray(im);
    write_bytes(dir / "g.jpg", encode_jpeg(gray, 90));
    Image gb = read_image((dir / "g.jpg").string());
    EXPECT_EQ(gb.channels, 3);
    EXPECT_EQ(gb.at(3, 3, 0), gb.at(3, 3, 2));
    fs::remove_all(dir);
}

TEST(IoImage, CorruptFilesGiveOneLineErrorsNamingTheFile) {
    fs::path dir = temp_dir();
    auto check = [&](const std::string& name, const std::vector<uint8_t>& bytes) {
        fs::path p = dir / name;
        write_bytes(p, bytes);
        try {
            read_image(p.string());
            ADD_FAILURE() << name << ": expected an error";
        } catch (const Error& e) {
            std::string m = e.what();
            EXPECT_NE(m.find(name), std::string::npos) << m;
            EXPECT_EQ(m.find('\n'), std::string::npos) << m;
        }
    };
    std::vector<uint8_t> png = encode_png(pattern(30, 30), {{"parameters", "x"}});
    std::vector<uint8_t> jpg = encode_jpeg(pattern(30, 30));
    check("empty.png", {});
    check("text.png", {'h', 'e', 'l', 'l', 'o'});
    check("trunc.png", std::vector<uint8_t>(png.begin(), png.begin() + long(png.size() / 2)));
    check("header_only.png", std::vector<uint8_t>(png.begin(), png.begin() + 8));
    std::vector<uint8_t> bad_crc = png;
    bad_crc[40] ^= 0x55;  // inside IHDR/first chunks: CRC mismatch
    check("badcrc.png", bad_crc);
    check("trunc.jpg", std::vector<uint8_t>(jpg.begin(), jpg.begin() + 20));
    std::vector<uint8_t> garbage_jpg = {0xFF, 0xD8, 0xFF, 0x00, 0x01, 0x02, 0x03};
    check("garbage.jpg", garbage_jpg);
    try {
        read_image((dir / "missing.png").string());
        ADD_FAILURE();
    } catch (const Error& e) {
        EXPECT_NE(std::string(e.what()).find("missing.png"), std::string::npos);
    }
    // Random byte flips anywhere must never crash (error or a decoded image are both fine).
    std::mt19937 rng(7);
    for (int i = 0; i < 200; ++i) {
        std::vector<uint8_t> b = (i % 2) ? png : jpg;
        for (int k = 0; k < 4; ++k) b[rng() % b.size()] = uint8_t(rng());
        try {
            if (i % 2) decode_png(b.data(), b.size(), "fuzz"); else decode_jpeg(b.data(), b.size(), "fuzz");
        } catch (const Error&) {
        }
    }
    fs::remove_all(dir);
}

TEST(IoImage, TensorConversionUsesDiffusersRounding) {
    Image im = pattern(5, 3);
    Tensor t = image_to_tensor(im);
    ASSERT_EQ(t.shape(), (Shape{1, 3, 3, 5}));
    EXPECT_FLOAT_EQ(t.at({0, 0, 0, 0}), -1.0f);
    EXPECT_FLOAT_EQ(t.at({0, 0, 0, 4}), 1.0f);
    std::vector<Image> back = tensor_to_images(t);
    ASSERT_EQ(back.size(), 1u);
    EXPECT_EQ(back[0].pixels, im.pixels);
    // ties go to even like numpy: x such that (x/2+0.5)*255 = 0.5 and 1.5 exactly
    std::vector<float> v = {2.0f * (0.5f / 255.0f) - 1.0f, 2.0f * (1.5f / 255.0f) - 1.0f, -3.0f, 5.0f, NAN, 0.0f};
    Tensor x = Tensor::from_vector(v, {1, 3, 1, 2});
    Image r = tensor_to_images(x)[0];
    float s0 = (v[0] / 2.0f + 0.5f) * 255.0f, s1 = (v[1] / 2.0f + 0.5f) * 255.0f;
    EXPECT_EQ(r.at(0, 0, 0), uint8_t(std::nearbyint(s0)));
    EXPECT_EQ(r.at(1, 0, 0), uint8_t(std::nearbyint(s1)));
    EXPECT_EQ(r.at(0, 0, 1), 0);    // clamped low
    EXPECT_EQ(r.at(1, 0, 1), 255);  // clamped high
    EXPECT_EQ(r.at(0, 0, 2), 0);    // NaN -> 0
    EXPECT_EQ(r.at(1, 0, 2), 128);  // 0 -> 127.5 -> 128 (ties to even)
    Tensor m = mask_to_tensor(Image::blank(2, 2, 1, 255));
    EXPECT_EQ(m.shape(), (Shape{1, 1, 2, 2}));
    EXPECT_FLOAT_EQ(m.at({0, 0, 1, 1}), 1.0f);
}

TEST(IoImage, ResizeModes) {
    Image im = pattern(64, 32);
    // identity
    EXPECT_EQ(resize_lanczos(im, 64, 32).pixels, im.pixels);
    // constant images stay constant under Lanczos
    Image c = Image::blank(30, 20, 3, 77);
    Image rc = resize_lanczos(c, 17, 41);
    for (uint8_t v : rc.pixels) EXPECT_EQ(v, 77);
    // just resize
    Image j = resize_image(im, 32, 32, ResizeMode::Just);
    EXPECT_EQ(j.width, 32);
    EXPECT_EQ(j.height, 32);
    // crop and resize: 64x32 -> 32x32 keeps the centre 32x32 region at scale 1
    Image cr = resize_image(im, 32, 32, ResizeMode::CropAndResize);
    EXPECT_EQ(cr.pixels, crop(im, 16, 0, 32, 32).pixels);
    // resize and fill: 64x32 -> 64x64: original in the middle, edges stretched above and below
    Image f = resize_image(im, 64, 64, ResizeMode::ResizeAndFill);
    EXPECT_EQ(crop(f, 0, 16, 64, 32).pixels, im.pixels);
    for (int x = 0; x < 64; ++x) {
        EXPECT_EQ(f.at(x, 0, 0), im.at(x, 0, 0));
        EXPECT_EQ(f.at(x, 63, 1), im.at(x, 31, 1));
    }
    EXPECT_EQ(parse_resize_mode("Crop and resize"), ResizeMode::CropAndResize);
    EXPECT_THROW(parse_resize_mode("zoom"), Error);
}

TEST(IoImage, MaskBlurPaddingAndBoxes) {
    Image m = Image::blank(21, 21, 1, 0);
    m.at(10, 10) = 255;
    Image b = gaussian_blur(m, 2.0f, 2.0f);
    // symmetric, peak in the centre, mass roughly preserved
    EXPECT_EQ(b.at(8, 10), b.at(12, 10));
    EXPECT_EQ(b.at(10, 7), b.at(10, 13));
    EXPECT_GT(b.at(10, 10), b.at(11, 10));
    int sum = 0;
    for (uint8_t v : b.pixels) sum += v;
    EXPECT_NEAR(sum, 255, 30);
    EXPECT_EQ(gaussian_blur(m, 0, 0).pixels, m.pixels);
    // a constant image is unchanged (weights sum to 1, reflect border)
    Image c = Image::blank(5, 3, 1, 200);
    EXPECT_EQ(gaussian_blur(c, 4.0f, 4.0f).pixels, c.pixels);

    Image im = pattern(8, 6);
    PaddedCanvas pc = pad_canvas(im, 2, 1, 3, 4);
    EXPECT_EQ(pc.image.width, 13);
    EXPECT_EQ(pc.image.height, 11);
    EXPECT_EQ(crop(pc.image, 2, 1, 8, 6).pixels, im.pixels);
    EXPECT_EQ(pc.image.at(0, 0, 0), im.at(0, 0, 0));
    EXPECT_EQ(pc.image.at(12, 10, 2), im.at(7, 5, 2));
    EXPECT_EQ(pc.mask.at(0, 0), 255);
    EXPECT_EQ(pc.mask.at(2, 1), 0);
    EXPECT_EQ(pc.mask.at(9, 6), 0);
    EXPECT_EQ(pc.mask.at(10, 6), 255);
    Box box = mask_bounding_box(pc.mask);
    EXPECT_EQ(box.x0, 0);
    EXPECT_EQ(box.x1, 13);
    Box inner = mask_bounding_box(invert(pc.mask));
    EXPECT_EQ(inner.x0, 2);
    EXPECT_EQ(inner.y0, 1);
    EXPECT_EQ(inner.x1, 10);
    EXPECT_EQ(inner.y1, 7);
    EXPECT_TRUE(mask_bounding_box(Image::blank(4, 4, 1, 0)).empty());
    EXPECT_THROW(pad_canvas(im, -1, 0, 0, 0), Error);

    Image dst = Image::blank(2, 1, 3, 0), src = Image::blank(2, 1, 3, 255), a = Image::blank(2, 1, 1, 0);
    a.at(1, 0) = 255;
    composite(dst, src, a);
    EXPECT_EQ(dst.pixels, (std::vector<uint8_t>{0, 0, 0, 255, 255, 255}));
}
