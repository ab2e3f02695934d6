// PNG and JPEG codecs over libpng / libjpeg, text chunks, and atomic file writes.
// Mirrors PIL's behaviour where users compare files: convert("RGB") on read (alpha dropped, gray
// expanded, palette applied, 16-bit reduced), PngInfo.add_text on write (tEXt for Latin-1 values,
// iTXt otherwise). Both C libraries report errors through longjmp; every C++ object that lives
// across a setjmp is heap-owned by a unique_ptr created before it, so a longjmp never skips a
// destructor or reads a clobbered local.
#include "io/image.h"

#include "core/error.h"

#include <png.h>
#include <jpeglib.h>

#include <cerrno>
#include <csetjmp>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <memory>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

namespace sdpp {

namespace {

constexpr uint32_t kMaxSide = 32768;                 // larger images are refused, not allocated
constexpr uint64_t kMaxPixels = uint64_t(1) << 28;   // 256 Mpx

std::vector<uint8_t> read_all(const std::string& path) {
    std::ifstream is(path, std::ios::binary);
    if (!is) throw error(path, ": cannot open image (", std::strerror(errno), ")");
    is.seekg(0, std::ios::end);
    std::streamoff n = is.tellg();
    if (n < 0) throw error(path, ": cannot read image");
    is.seekg(0);
    std::vector<uint8_t> bytes(static_cast<size_t>(n));
    if (n > 0 && !is.read(reinterpret_cast<char*>(bytes.data()), n)) throw error(path, ": cannot read image");
    return bytes;
}

// UTF-8 <-> Latin-1 for tEXt chunks (PNG text is Latin-1 by the spec).
std::string latin1_to_utf8(const char* s, size_t n) {
    std::string out;
    out.reserve(n);
    for (size_t i = 0; i < n; ++i) {
        auto c = static_cast<unsigned char>(s[i]);
        if (c < 0x80) {
            out.push_back(char(c));
        } else {
            out.push_back(char(0xC0 | (c >> 6)));
            out.push_back(char(0x80 | (c & 0x3F)));
        }
    }
    return out;
}

// Latin-1 bytes of a UTF-8 string, or false when it is not valid UTF-8 or has code points > 255.
bool utf8_to_latin1(const std::string& s, std::string& out) {
    out.clear();
    for (size_t i = 0; i < s.size(); ++i) {
        auto c = static_cast<unsigned char>(s[i]);
        if (c < 0x80) {
            out.push_back(char(c));
        } else if ((c & 0xE0) == 0xC0 && i + 1 < s.size()) {
            auto c2 = static_cast<unsigned char>(s[i + 1]);
            if ((c2 & 0xC0) != 0x80) return false;
            unsigned cp = ((c & 0x1Fu) << 6) | (c2 & 0x3Fu);
            if (cp < 0x80 || cp > 0xFF) return false;
            out.push_back(char(cp));
            ++i;
        } else {
            return false;
        }
    }
    return true;
}

// ---- PNG --------------------------------------------------------------------------------------
struct PngDecodeState {
    const uint8_t* data = nullptr;
    size_t size = 0;
    size_t pos = 0;
    std::string message;
    ImageFile out;
    std::vector<png_bytep> rows;
};

void png_on_error(png_structp png, png_const_charp msg) {
    auto* st = static_cast<PngDecodeState*>(png_get_error_ptr(png));
    st->message = msg ? msg : "libpng error";
    png_longjmp(png, 1);
}
void png_on_warning(png_structp, png_const_charp) {}

void png_read_mem(png_structp png, png_bytep dst, png_size_t n) {
    auto* st = static_cast<PngDecodeState*>(png_get_io_ptr(png));
    if (n > st->size - st->pos) png_error(png, "truncated file");
    std::memcpy(dst, st->data + st->pos, n);
    st->pos += n;
}

void collect_text(png_structp png, png_infop info, std::map<std::string, std::string>& text) {
    png_textp chunks = nullptr;
    int n = 0;
    if (!info || png_get_text(png, info, &chunks, &n) <= 0) return;
    for (int i = 0; i < n; ++i) {
        const png_text& t = chunks[i];
        std::string key = t.key ? latin1_to_utf8(t.key, std::strlen(t.key)) : std::string();
        std::string value;
        if (t.compression == PNG_ITXT_COMPRESSION_NONE || t.compression == PNG_ITXT_COMPRESSION_zTXt)
            value.assign(t.text ? t.text : "", t.itxt_length);
        else
            value = latin1_to_utf8(t.text ? t.text : "", t.text_length);
        text[key] = value;
    }
}

struct PngWriteState {
    std::vector<uint8_t> bytes;
    std::string message;
    std::vector<png_text> chunks;
    std::vector<std::string> strings;  // storage the png_text entries point into
    std::vector<png_const_bytep> rows;
};

void png_write_mem(png_structp png, png_bytep src, png_size_t n) {
    auto* st = static_cast<PngWriteState*>(png_get_io_ptr(png));
    st->bytes.insert(st->bytes.end(), src, src + n);
}
void png_flush_mem(png_structp) {}
void png_on_write_error(png_structp png, png_const_charp msg) {
    auto* st = static_cast<PngWriteState*>(png_get_error_ptr(png));
    st->message = msg ? msg : "libpng error";
    png_longjmp(png, 1);
}

// ---- JPEG -------------------------------------------------------------------------------------
struct JpegErr {
    jpeg_error_mgr mgr;
    std::jmp_buf jump;
    char message[JMSG_LENGTH_MAX];
};

void jpeg_on_error(j_common_ptr cinfo) {
    auto* e = reinterpret_cast<JpegErr*>(cinfo->err);
    (*cinfo->err->format_message)(cinfo, e->message);
    std::longjmp(e->jump, 1);
}
void jpeg_on_message(j_common_ptr) {}

struct JpegDecodeState {
    jpeg_decompress_struct cinfo;
    JpegErr err;
    Image out;
    std::vector<uint8_t> row;
};

struct JpegEncodeState {
    jpeg_compress_struct cinfo;
    JpegErr err;
    unsigned char* buf = nullptr;
    unsigned long size = 0;
};

}  // namespace

Image Image::blank(int width, int height, int channels, uint8_t value) {
    SDPP_CHECK(width >= 0 && height >= 0 && (channels == 1 || channels == 3), "Image::blank: bad size ", width,
               "x", height, "x", channels);
    Image im;
    im.width = width;
    im.height = height;
    im.channels = channels;
    im.pixels.assign(size_t(width) * height * channels, value);
    return im;
}

ImageFile decode_png(const uint8_t* data, size_t size, const std::string& name) {
    if (size < 8 || png_sig_cmp(data, 0, 8) != 0) throw error(name, ": not a PNG file");
    auto st = std::make_unique<PngDecodeState>();
    st->data = data;
    st->size = size;
    png_structp png = png_create_read_struct(PNG_LIBPNG_VER_STRING, st.get(), png_on_error, png_on_warning);
    if (!png) throw error(name, ": cannot create PNG decoder");
    png_infop info = png_create_info_struct(png);
    png_infop end_info = png_create_info_struct(png);
    if (!info || !end_info) {
        png_destroy_read_struct(&png, &info, &end_info);
        throw error(name, ": cannot create PNG decoder");
    }
    if (setjmp(png_jmpbuf(png))) {
        png_destroy_read_struct(&png, &info, &end_info);
        throw error(name, ": corrupt PNG (", st->message, ")");
    }
    png_set_read_fn(png, st.get(), png_read_mem);
    png_set_user_limits(png, kMaxSide, kMaxSide);
    png_read_info(png, info);
    png_uint_32 w = png_get_image_width(png, info), h = png_get_image_height(png, info);
    if (w == 0 || h == 0 || uint64_t(w) * h > kMaxPixels) png_error(png, "image size out of range");
    int color = png_get_color_type(png, info);
    png_set_expand(png);  // palette -> RGB, gray < 8 bit -> 8 bit, tRNS -> alpha
    png_set_strip_16(png);
    png_set_strip_alpha(png);
    if (color == PNG_COLOR_TYPE_GRAY || color == PNG_COLOR_TYPE_GRAY_ALPHA) png_set_gray_to_rgb(png);
    png_set_interlace_handling(png);
    png_read_update_info(png, info);
    if (png_get_rowbytes(png, info) != size_t(w) * 3) png_error(png, "unexpected row layout after conversion");
    Image& im = st->out.image;
    im.width = int(w);
    im.height = int(h);
    im.channels = 3;
    im.pixels.resize(size_t(w) * h * 3);
    st->rows.resize(h);
    for (png_uint_32 y = 0; y < h; ++y) st->rows[y] = im.pixels.data() + size_t(y) * w * 3;
    png_read_image(png, st->rows.data());
    png_read_end(png, end_info);
    collect_text(png, info, st->out.text);
    collect_text(png, end_info, st->out.text);
    png_destroy_read_struct(&png, &info, &end_info);
    return std::move(st->out);
}

Image decode_jpeg(const uint8_t* data, size_t size, const std::string& name) {
    if (size < 3 || data[0] != 0xFF || data[1] != 0xD8) throw error(name, ": not a JPEG file");
    auto st = std::make_unique<JpegDecodeState>();
    jpeg_decompress_struct* c = &st->cinfo;
    c->err = jpeg_std_error(&st->err.mgr);
    st->err.mgr.error_exit = jpeg_on_error;
    st->err.mgr.output_message = jpeg_on_message;
    if (setjmp(st->err.jump)) {
        jpeg_destroy_decompress(c);
        throw error(name, ": corrupt JPEG (", st->err.message, ")");
    }
    jpeg_create_decompress(c);
    jpeg_mem_src(c, data, static_cast<unsigned long>(size));
    jpeg_read_header(c, TRUE);
    bool cmyk = c->jpeg_color_space == JCS_CMYK || c->jpeg_color_space == JCS_YCCK;
    c->out_color_space = cmyk ? JCS_CMYK : JCS_RGB;
    jpeg_start_decompress(c);
    uint32_t w = c->output_width, h = c->output_height;
    if (w == 0 || h == 0 || w > kMaxSide || h > kMaxSide || uint64_t(w) * h > kMaxPixels) {
        std::snprintf(st->err.message, sizeof st->err.message, "image size %ux%u out of range", w, h);
        std::longjmp(st->err.jump, 1);
    }
    int comps = c->output_components;
    Image& im = st->out;
    im.width = int(w);
    im.height = int(h);
    im.channels = 3;
    im.pixels.resize(size_t(w) * h * 3);
    st->row.resize(size_t(w) * comps);
    while (c->output_scanline < h) {
        uint32_t y = c->output_scanline;
        JSAMPROW rowp = st->row.data();
        if (jpeg_read_scanlines(c, &rowp, 1) != 1) break;
        uint8_t* dst = im.pixels.data() + size_t(y) * w * 3;
        for (uint32_t x = 0; x < w; ++x) {
            const uint8_t* s = st->row.data() + size_t(x) * comps;
            if (comps == 3) {
                dst[3 * x] = s[0], dst[3 * x + 1] = s[1], dst[3 * x + 2] = s[2];
            } else if (comps == 4) {  // Adobe CMYK is stored inverted: r = c * k / 255
                for (int k = 0; k < 3; ++k) dst[3 * x + k] = uint8_t((s[k] * s[3] + 127) / 255);
            } else {
                dst[3 * x] = dst[3 * x + 1] = dst[3 * x + 2] = s[0];
            }
        }
    }
    jpeg_finish_decompress(c);
    jpeg_destroy_decompress(c);
    return std::move(st->out);
}

std::vector<uint8_t> encode_jpeg(const Image& image, int quality) {
    SDPP_CHECK(image.channels == 3 || image.channels == 1, "encode_jpeg: ", image.channels, " channels");
    SDPP_CHECK(image.width > 0 && image.height > 0, "encode_jpeg: empty image");
    auto st = std::make_unique<JpegEncodeState>();
    jpeg_compress_struct* c = &st->cinfo;
    c->err = jpeg_std_error(&st->err.mgr);
    st->err.mgr.error_exit = jpeg_on_error;
    st->err.mgr.output_message = jpeg_on_message;
    if (setjmp(st->err.jump)) {
        jpeg_destroy_compress(c);
        std::free(st->buf);
        throw error("JPEG encoding failed (", st->err.message, ")");
    }
    jpeg_create_compress(c);
    jpeg_mem_dest(c, &st->buf, &st->size);
    c->image_width = JDIMENSION(image.width);
    c->image_height = JDIMENSION(image.height);
    c->input_components = image.channels;
    c->in_color_space = image.channels == 3 ? JCS_RGB : JCS_GRAYSCALE;
    jpeg_set_defaults(c);
    jpeg_set_quality(c, quality, TRUE);
    jpeg_start_compress(c, TRUE);
    while (c->next_scanline < c->image_height) {
        JSAMPROW row = const_cast<JSAMPROW>(image.pixels.data() + size_t(c->next_scanline) * image.width * image.channels);
        jpeg_write_scanlines(c, &row, 1);
    }
    jpeg_finish_compress(c);
    std::vector<uint8_t> out(st->buf, st->buf + st->size);
    jpeg_destroy_compress(c);
    std::free(st->buf);
    return out;
}

ImageFile decode_image_bytes(const uint8_t* data, size_t size, const std::string& name) {
    if (size >= 8 && png_sig_cmp(data, 0, 8) == 0) return decode_png(data, size, name);
    if (size >= 3 && data[0] == 0xFF && data[1] == 0xD8 && data[2] == 0xFF)
        return ImageFile{decode_jpeg(data, size, name), {}};
    if (size == 0) throw error(name, ": empty file, not an image");
    throw error(name, ": not a PNG or JPEG image");
}

ImageFile read_image_file(const std::string& path) {
    std::vector<uint8_t> bytes = read_all(path);
    return decode_image_bytes(bytes.data(), bytes.size(), path);
}

Image read_image(const std::string& path) { return read_image_file(path).image; }

std::vector<uint8_t> encode_png(const Image& image, const std::vector<PngText>& text) {
    SDPP_CHECK(image.channels == 3 || image.channels == 1, "encode_png: ", image.channels, " channels");
    SDPP_CHECK(image.width > 0 && image.height > 0 &&
                   image.pixels.size() == size_t(image.width) * image.height * image.channels,
               "encode_png: bad image buffer ", image.width, "x", image.height);
    auto st = std::make_unique<PngWriteState>();
    // Prepare the text entries before libpng starts (they only need stable storage).
    st->strings.reserve(text.size() * 2);
    for (const PngText& t : text) {
        std::string key;
        SDPP_CHECK(!t.key.empty() && t.key.size() < 80 && utf8_to_latin1(t.key, key),
                   "PNG text key '", t.key, "' must be 1-79 Latin-1 characters");
        std::string latin;
        bool is_latin = utf8_to_latin1(t.value, latin);
        st->strings.push_back(key);
        st->strings.push_back(is_latin ? latin : t.value);
        png_text c{};
        c.compression = is_latin ? PNG_TEXT_COMPRESSION_NONE : PNG_ITXT_COMPRESSION_NONE;
        st->chunks.push_back(c);
    }
    for (size_t i = 0; i < st->chunks.size(); ++i) {
        png_text& c = st->chunks[i];
        c.key = st->strings[2 * i].data();
        c.text = st->strings[2 * i + 1].data();
        if (c.compression == PNG_TEXT_COMPRESSION_NONE)
            c.text_length = st->strings[2 * i + 1].size();
        else
            c.itxt_length = st->strings[2 * i + 1].size();
    }
    st->rows.resize(size_t(image.height));
    for (int y = 0; y < image.height; ++y)
        st->rows[size_t(y)] = image.pixels.data() + size_t(y) * image.width * image.channels;

    png_structp png = png_create_write_struct(PNG_LIBPNG_VER_STRING, st.get(), png_on_write_error, png_on_warning);
    if (!png) throw Error("cannot create PNG encoder");
    png_infop info = png_create_info_struct(png);
    if (!info) {
        png_destroy_write_struct(&png, nullptr);
        throw Error("cannot create PNG encoder");
    }
    if (setjmp(png_jmpbuf(png))) {
        png_destroy_write_struct(&png, &info);
        throw error("PNG encoding failed (", st->message, ")");
    }
    png_set_write_fn(png, st.get(), png_write_mem, png_flush_mem);
    png_set_IHDR(png, info, png_uint_32(image.width), png_uint_32(image.height), 8,
                 image.channels == 3 ? PNG_COLOR_TYPE_RGB : PNG_COLOR_TYPE_GRAY, PNG_INTERLACE_NONE,
                 PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
    if (!st->chunks.empty()) png_set_text(png, info, st->chunks.data(), int(st->chunks.size()));
    png_write_info(png, info);
    png_write_image(png, const_cast<png_bytepp>(st->rows.data()));
    png_write_end(png, info);
    png_destroy_write_struct(&png, &info);
    return std::move(st->bytes);
}

void write_file_atomic(const std::string& path, const void* bytes, size_t size, bool overwrite) {
    namespace fs = std::filesystem;
    fs::path target(path);
    std::error_code ec;
    if (!overwrite && fs::exists(fs::symlink_status(target, ec)))
        throw error(path, ": file exists (refusing to overwrite)");
    fs::path dir = target.has_parent_path() ? target.parent_path() : fs::path(".");
    if (!fs::is_directory(dir, ec)) throw error(path, ": folder ", dir.string(), " does not exist");
    std::string tmpl = (dir / ("." + target.filename().string() + ".tmpXXXXXX")).string();
    std::vector<char> name(tmpl.begin(), tmpl.end());
    name.push_back('\0');
    int fd = ::mkstemp(name.data());
    if (fd < 0) throw error(path, ": cannot create a file in ", dir.string(), " (", std::strerror(errno), ")");
    const char* p = static_cast<const char*>(bytes);
    size_t left = size;
    while (left > 0) {
        ssize_t n = ::write(fd, p, left);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) {
            int e = errno;
            ::close(fd);
            ::unlink(name.data());
            throw error(path, ": write failed (", std::strerror(e), ")");
        }
        p += n;
        left -= size_t(n);
    }
    ::fchmod(fd, 0644);
    if (::close(fd) != 0) {
        int e = errno;
        ::unlink(name.data());
        throw error(path, ": write failed (", std::strerror(e), ")");
    }
    if (overwrite) {
        if (::rename(name.data(), path.c_str()) != 0) {
            int e = errno;
            ::unlink(name.data());
            throw error(path, ": cannot write (", std::strerror(e), ")");
        }
        return;
    }
    // link() fails with EEXIST if the name appeared meanwhile: never replaces a file.
    if (::link(name.data(), path.c_str()) == 0) {
        ::unlink(name.data());
        return;
    }
    int e = errno;
    if (e == EEXIST) {
        ::unlink(name.data());
        throw error(path, ": file exists (refusing to overwrite)");
    }
    // File systems without hard links: the existence check above is the guard.
    if (::rename(name.data(), path.c_str()) != 0) {
        e = errno;
        ::unlink(name.data());
        throw error(path, ": cannot write (", std::strerror(e), ")");
    }
}

void write_png(const std::string& path, const Image& image, const std::vector<PngText>& text, bool overwrite) {
    std::vector<uint8_t> bytes = encode_png(image, text);
    write_file_atomic(path, bytes.data(), bytes.size(), overwrite);
}

}  // namespace sdpp
