// Zip reading for .ckpt files: libzip for validation and inflation, plus a bounds-checked walk of
// the central directory (PKWARE APPNOTE 6.3.x: end of central directory 4.3.16, zip64 locator and
// record 4.3.14-15, central file header 4.3.12, local file header 4.3.7, zip64 extra 4.5.3) that
// only serves to find the data offset of STORED entries. When that walk disagrees with libzip in
// any way the entry simply has no offset and is read through libzip instead.
#include "io/zip_archive.h"

#include "core/error.h"

#include <zip.h>

#include <algorithm>
#include <cstring>
#include <unistd.h>

namespace sdpp {

namespace {

uint16_t rd16(const std::byte* p) { return uint16_t(uint8_t(p[0]) | (uint8_t(p[1]) << 8)); }
uint32_t rd32(const std::byte* p) { return uint32_t(rd16(p)) | (uint32_t(rd16(p + 2)) << 16); }
uint64_t rd64(const std::byte* p) { return uint64_t(rd32(p)) | (uint64_t(rd32(p + 4)) << 32); }

constexpr uint32_t kLocalSig = 0x04034b50, kCentralSig = 0x02014b50, kEocdSig = 0x06054b50,
                   kZip64LocatorSig = 0x07064b50, kZip64EocdSig = 0x06064b50;
// Deflate cannot compress better than about 1032:1 (RFC 1951: a 258-byte match costs at least two
// bits); a larger declared ratio is a lie.
constexpr uint64_t kMaxDeflateRatio = 1032;

// name -> data offset for entries whose central and local headers agree and that are stored.
std::map<std::string, uint64_t, std::less<>> stored_offsets(const std::byte* d, size_t n) {
    std::map<std::string, uint64_t, std::less<>> out;
    if (n < 22) return out;
    // End of central directory: the last signature within 22 + 65535 bytes of the end.
    size_t eocd = SIZE_MAX;
    const size_t lowest = n > 22 + 65535 ? n - 22 - 65535 : 0;
    for (size_t p = n - 22 + 1; p-- > lowest;) {
        if (rd32(d + p) == kEocdSig && p + 22 + rd16(d + p + 20) == n) {
            eocd = p;
            break;
        }
    }
    if (eocd == SIZE_MAX) return out;
    uint64_t count = rd16(d + eocd + 10), cd_size = rd32(d + eocd + 12), cd_off = rd32(d + eocd + 16);
    if (eocd >= 20 && rd32(d + eocd - 20) == kZip64LocatorSig) {
        uint64_t z = rd64(d + eocd - 20 + 8);
        if (z > n || n - z < 56 || rd32(d + z) != kZip64EocdSig) return out;
        count = rd64(d + z + 32);
        cd_size = rd64(d + z + 40);
        cd_off = rd64(d + z + 48);
    }
    if (cd_off > n || cd_size > n - cd_off) return out;
    uint64_t p = cd_off;
    const uint64_t cd_end = cd_off + cd_size;
    for (uint64_t i = 0; i < count; ++i) {
        if (cd_end - p < 46 || rd32(d + p) != kCentralSig) return {};
        const uint16_t method = rd16(d + p + 10);
        uint64_t comp = rd32(d + p + 20), size = rd32(d + p + 24);
        const uint16_t name_len = rd16(d + p + 28), extra_len = rd16(d + p + 30), comment_len = rd16(d + p + 32);
        uint64_t lho = rd32(d + p + 42);
        const uint64_t rec = 46ull + name_len + extra_len + comment_len;
        if (cd_end - p < rec) return {};
        std::string name(reinterpret_cast<const char*>(d + p + 46), name_len);
        // zip64 extra field: the 8-byte values replace the 32-bit fields that are all ones.
        const std::byte* x = d + p + 46 + name_len;
        for (size_t q = 0; q + 4 <= extra_len;) {
            const uint16_t id = rd16(x + q), len = rd16(x + q + 2);
            if (q + 4 + len > extra_len) return {};
            if (id == 0x0001) {
                size_t k = q + 4;
                auto take = [&](uint64_t& v) {
                    if (v != 0xffffffffu) return true;
                    if (k + 8 > q + 4 + len) return false;
                    v = rd64(x + k);
                    k += 8;
                    return true;
                };
                if (!take(size) || !take(comp) || !take(lho)) return {};
            }
            q += 4 + size_t(len);
        }
        p += rec;
        if (method != 0 || comp != size) continue;
        if (lho > n || n - lho < 30 || rd32(d + lho) != kLocalSig) continue;
        const uint16_t lname = rd16(d + lho + 26), lextra = rd16(d + lho + 28);
        const uint64_t data = lho + 30 + lname + lextra;
        if (lname != name_len || data > n || std::memcmp(d + lho + 30, name.data(), name_len) != 0) continue;
        if (comp > n - data) continue;
        out.emplace(std::move(name), data);
    }
    return out;
}

}  // namespace

uint64_t physical_memory_bytes() {
    long pages = sysconf(_SC_PHYS_PAGES), page = sysconf(_SC_PAGE_SIZE);
    return pages > 0 && page > 0 ? uint64_t(pages) * uint64_t(page) : 0;
}

void ZipArchive::ZipCloser::operator()(void* z) const {
    if (z) zip_discard(static_cast<zip_t*>(z));
}

ZipArchive::ZipArchive(ZipArchive&&) noexcept = default;
ZipArchive& ZipArchive::operator=(ZipArchive&&) noexcept = default;
ZipArchive::~ZipArchive() = default;

ZipArchive ZipArchive::open(const std::string& path, const ZipLimits& limits) {
    auto m = MappedFile::open(path);
    const std::byte* d = m->data();
    const size_t n = m->size();
    return from_memory(std::move(m), d, n, path, limits);
}

ZipArchive ZipArchive::from_memory(std::shared_ptr<const void> owner, const std::byte* data, size_t size,
                                   const std::string& name, const ZipLimits& limits) {
    ZipArchive a;
    a.owner_ = std::move(owner);
    a.data_ = data;
    a.size_ = size;
    a.name_ = name;
    a.limits_ = limits;
    if (size < 22) throw error(name, ": not a zip archive (", size, " bytes)");

    zip_error_t err;
    zip_error_init(&err);
    zip_source_t* src = zip_source_buffer_create(data, size, 0, &err);
    if (!src) {
        std::string why = zip_error_strerror(&err);
        zip_error_fini(&err);
        throw error(name, ": cannot read as zip: ", why);
    }
    zip_t* z = zip_open_from_source(src, ZIP_RDONLY | ZIP_CHECKCONS, &err);
    if (!z) {
        std::string why = zip_error_strerror(&err);
        zip_error_fini(&err);
        zip_source_free(src);
        throw error(name, ": not a valid zip archive (truncated or corrupt?): ", why);
    }
    zip_error_fini(&err);
    a.zip_.reset(z);

    const zip_int64_t count = zip_get_num_entries(z, 0);
    if (count < 0) throw error(name, ": cannot list the zip archive");
    if (uint64_t(count) > limits.max_entries)
        throw error(name, ": zip archive lists ", count, " entries, more than the limit of ", limits.max_entries);
    const auto offsets = stored_offsets(data, size);
    a.entries_.reserve(size_t(count));
    for (zip_uint64_t i = 0; i < zip_uint64_t(count); ++i) {
        zip_stat_t st;
        zip_stat_init(&st);
        if (zip_stat_index(z, i, ZIP_FL_ENC_RAW, &st) != 0)
            throw error(name, ": cannot read zip entry ", i, ": ", zip_strerror(z));
        const zip_uint64_t need = ZIP_STAT_NAME | ZIP_STAT_SIZE | ZIP_STAT_COMP_SIZE | ZIP_STAT_COMP_METHOD;
        if ((st.valid & need) != need) throw error(name, ": zip entry ", i, " lacks its name or sizes");
        ZipEntry e;
        e.name = st.name;
        e.index = i;
        e.size = st.size;
        e.comp_size = st.comp_size;
        e.method = st.comp_method;
        e.encrypted = (st.valid & ZIP_STAT_ENCRYPTION_METHOD) && st.encryption_method != ZIP_EM_NONE;
        if (e.comp_size > size)
            throw error(name, ": zip entry '", e.name, "' declares ", e.comp_size, " compressed bytes in a file of ",
                        size, " bytes: truncated or corrupt");
        if (e.method == ZIP_CM_STORE && e.size != e.comp_size)
            throw error(name, ": stored zip entry '", e.name, "' declares ", e.size, " bytes but holds ", e.comp_size);
        if (e.method == ZIP_CM_STORE && !e.encrypted) {
            auto it = offsets.find(e.name);
            if (it != offsets.end()) e.data_offset = it->second;
        }
        if (!a.index_.emplace(e.name, a.entries_.size()).second)
            throw error(name, ": zip entry '", e.name, "' appears twice");
        a.entries_.push_back(std::move(e));
    }
    return a;
}

const ZipEntry* ZipArchive::find(std::string_view entry_name) const {
    auto it = index_.find(entry_name);
    return it == index_.end() ? nullptr : &entries_[it->second];
}

std::optional<std::span<const std::byte>> ZipArchive::stored_span(const ZipEntry& e) const {
    if (!e.data_offset || *e.data_offset > size_ || e.size > size_ - *e.data_offset) return std::nullopt;
    return std::span<const std::byte>(data_ + *e.data_offset, size_t(e.size));
}

std::vector<std::byte> ZipArchive::read(const ZipEntry& e, uint64_t max_bytes) const {
    const std::string what = name_ + ": zip entry '" + e.name + "'";
    if (e.encrypted) throw error(what, " is encrypted");
    if (e.method != ZIP_CM_STORE && e.method != ZIP_CM_DEFLATE)
        throw error(what, " uses compression method ", e.method, " (only stored and deflate are read)");
    uint64_t cap = std::min(max_bytes, limits_.max_entry_bytes);
    if (uint64_t ram = physical_memory_bytes(); ram > 0) cap = std::min(cap, ram);
    if (e.size > cap)
        throw error(what, " declares ", e.size, " bytes, more than the limit of ", cap, " (zip bomb?)");
    if (e.method == ZIP_CM_DEFLATE && e.size / kMaxDeflateRatio > e.comp_size + 1)
        throw error(what, " declares ", e.size, " bytes from ", e.comp_size,
                    " compressed bytes, an impossible ratio (zip bomb?)");

    zip_t* z = static_cast<zip_t*>(zip_.get());
    zip_file_t* f = zip_fopen_index(z, e.index, 0);
    if (!f) throw error(what, ": cannot open: ", zip_strerror(z));
    std::unique_ptr<zip_file_t, int (*)(zip_file_t*)> guard(f, zip_fclose);
    std::vector<std::byte> out(size_t(e.size));
    uint64_t got = 0;
    while (got < e.size) {
        const uint64_t want = std::min<uint64_t>(e.size - got, uint64_t(1) << 26);
        const zip_int64_t r = zip_fread(f, out.data() + got, want);
        if (r < 0) throw error(what, ": ", zip_file_strerror(f));
        if (r == 0) throw error(what, " holds ", got, " bytes, fewer than the ", e.size, " it declares: truncated");
        got += uint64_t(r);
    }
    std::byte extra[1];
    const zip_int64_t r = zip_fread(f, extra, 1);
    if (r < 0) throw error(what, ": ", zip_file_strerror(f));
    if (r > 0) throw error(what, " holds more than the ", e.size, " bytes it declares (zip bomb?)");
    return out;
}

}  // namespace sdpp
