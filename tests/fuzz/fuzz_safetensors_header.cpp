// libFuzzer target: parse_safetensors_header (src/io/safetensors.cpp) on arbitrary bytes.
// Every accepted header is then checked against the buffer: each entry's byte range must lie in
// the data area and match its shape, and the bytes are read so ASan sees any overrun.
#include "io/safetensors.h"

#include <cstdint>
#include <cstdlib>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    const auto* p = reinterpret_cast<const std::byte*>(data);
    try {
        sdpp::SafetensorsHeader h = sdpp::parse_safetensors_header(p, size);
        if (h.data_offset > size) abort();
        unsigned sum = 0;
        uint64_t prev_end = 0;
        for (const auto& e : h.entries) {
            if (e.begin > e.end || e.end > size - h.data_offset || e.begin < prev_end) abort();
            if (e.end - e.begin != uint64_t(sdpp::numel_of(e.shape)) * sdpp::dtype_size(e.dtype)) abort();
            for (uint64_t i = e.begin; i < e.end; ++i) sum += unsigned(p[h.data_offset + i]);
            prev_end = e.end;
        }
        volatile unsigned sink = sum;
        (void)sink;
    } catch (const sdpp::Error&) {
    }
    return 0;
}
