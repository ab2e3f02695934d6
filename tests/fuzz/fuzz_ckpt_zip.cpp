// libFuzzer target: the whole .ckpt path (src/io/zip_archive.cpp, unpickle.cpp, ckpt.cpp) with
// copy limits small enough for the fuzzer's memory cap. Two input modes, picked by the first byte:
//   even: the rest is a zip file, used as is (exercises the archive code);
//   odd:  [2-byte pickle length L][L bytes of data.pkl][storage bytes], wrapped here into a valid
//         stored zip (archive/data.pkl, archive/data/0..3 = the storage bytes in four parts, data
//         64-byte aligned unless bit 1 is set), so mutations reach the pickle and the tensor-view
//         code instead of dying on a CRC check.
// Every tensor that loads is read byte by byte, so ASan catches a view that escapes its storage.
#include "io/ckpt.h"

#include <zlib.h>

#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

namespace {

void le(std::string& s, uint64_t v, int n) {
    for (int i = 0; i < n; ++i) s.push_back(char((v >> (8 * i)) & 0xff));
}

// A minimal stored zip (APPNOTE 4.3.7 / 4.3.12 / 4.3.16), optionally padding each record's data
// to a 64-byte offset with an extra field as torch does.
std::string stored_zip(const std::vector<std::pair<std::string, std::string>>& records, bool align) {
    std::string out, central;
    for (const auto& [name, data] : records) {
        const uint32_t crc = uint32_t(crc32(0, reinterpret_cast<const Bytef*>(data.data()), uInt(data.size())));
        const size_t lho = out.size();
        size_t pad = 0;
        if (align) pad = (64 - (lho + 30 + name.size() + 4) % 64) % 64;
        const size_t extra = align ? 4 + pad : 0;
        le(out, 0x04034b50, 4);
        le(out, 20, 2);
        le(out, 0, 2);
        le(out, 0, 2);  // stored
        le(out, 0, 4);  // time, date
        le(out, crc, 4);
        le(out, data.size(), 4);
        le(out, data.size(), 4);
        le(out, name.size(), 2);
        le(out, extra, 2);
        out += name;
        if (align) {
            le(out, 0x4246, 2);
            le(out, pad, 2);
            out.append(pad, '\0');
        }
        out += data;
        le(central, 0x02014b50, 4);
        le(central, 20, 2);
        le(central, 20, 2);
        le(central, 0, 2);
        le(central, 0, 2);
        le(central, 0, 4);
        le(central, crc, 4);
        le(central, data.size(), 4);
        le(central, data.size(), 4);
        le(central, name.size(), 2);
        le(central, 0, 2);
        le(central, 0, 2);
        le(central, 0, 2);
        le(central, 0, 2);
        le(central, 0, 4);
        le(central, lho, 4);
        central += name;
    }
    const size_t cd = out.size();
    out += central;
    le(out, 0x06054b50, 4);
    le(out, 0, 4);
    le(out, records.size(), 2);
    le(out, records.size(), 2);
    le(out, central.size(), 4);
    le(out, cd, 4);
    le(out, 0, 2);
    return out;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    if (size < 1) return 0;
    std::string zip;
    if (data[0] & 1) {
        if (size < 3) return 0;
        const size_t n = std::min<size_t>(size - 3, size_t(data[1]) | (size_t(data[2]) << 8));
        const std::string pkl(reinterpret_cast<const char*>(data + 3), n);
        const std::string rest(reinterpret_cast<const char*>(data + 3 + n), size - 3 - n);
        std::vector<std::pair<std::string, std::string>> records = {{"archive/data.pkl", pkl}};
        const size_t q = rest.size() / 4;
        for (int k = 0; k < 4; ++k)
            records.emplace_back("archive/data/" + std::to_string(k), rest.substr(size_t(k) * q, k == 3 ? std::string::npos : q));
        zip = stored_zip(records, !(data[0] & 2));
    } else {
        zip.assign(reinterpret_cast<const char*>(data + 1), size - 1);
    }
    sdpp::CkptLimits lim;
    lim.max_pickle_bytes = 4 << 20;
    lim.max_owned_bytes = 64 << 20;
    lim.zip.max_entry_bytes = 64 << 20;
    lim.pickle.max_values = 1 << 20;
    lim.pickle.max_memory_bytes = 256 << 20;
    try {
        // A heap copy (not the fuzzer's buffer) so ASan bounds it exactly.
        auto buf = std::make_shared<std::vector<std::byte>>(zip.size());
        if (!zip.empty()) std::memcpy(buf->data(), zip.data(), zip.size());
        auto f = sdpp::CkptFile::from_memory(buf, buf->data(), buf->size(), "fuzz", lim);
        unsigned sum = 0;
        for (const auto& [name, t] : f.tensors()) {
            sdpp::Tensor c = t.contiguous();
            const auto* b = static_cast<const unsigned char*>(c.raw());
            for (size_t i = 0; i < c.nbytes(); ++i) sum += b[i];
        }
        volatile unsigned sink = sum;
        (void)sink;
    } catch (const sdpp::Error&) {
    }
    return 0;
}
