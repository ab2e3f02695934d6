// safetensors files: 8-byte little-endian header length, a JSON header naming every tensor's
// dtype, shape and [begin, end) byte range in the data area, then the raw data.
// Format: https://github.com/huggingface/safetensors (README "Format").
// Everything in the header is validated before any tensor byte is touched.
#pragma once
#include "core/tensor.h"
#include "io/mapped_file.h"

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace sdpp {

struct SafetensorsEntry {
    std::string name;
    DType dtype;
    Shape shape;
    uint64_t begin = 0;  // byte offsets relative to the data area
    uint64_t end = 0;
};

struct SafetensorsHeader {
    std::vector<SafetensorsEntry> entries;           // in file order of their data
    std::map<std::string, std::string> metadata;     // "__metadata__"
    uint64_t data_offset = 0;                        // 8 + header length
};

// Parses and validates the header of a file of `size` bytes starting at `data`. Throws
// sdpp::Error with a one-line reason (no file name; callers prefix it).
SafetensorsHeader parse_safetensors_header(const std::byte* data, size_t size);

class SafetensorsFile {
public:
    // Maps the file and validates its header; errors read "<path>: <reason>".
    static SafetensorsFile open(const std::string& path);

    const std::string& path() const { return file_->path(); }
    const std::vector<SafetensorsEntry>& entries() const { return header_.entries; }
    const std::map<std::string, std::string>& metadata() const { return header_.metadata; }
    const SafetensorsEntry* find(const std::string& name) const;
    bool contains(const std::string& name) const { return find(name) != nullptr; }

    // Zero-copy tensor over the mapped bytes (stays valid while any copy of it lives).
    Tensor get(const std::string& name) const;
    Tensor get(const SafetensorsEntry& e) const;

private:
    std::shared_ptr<const MappedFile> file_;
    SafetensorsHeader header_;
    std::map<std::string, size_t> index_;
};

// Writes tensors (any dtype, any strides) in the given order. Refuses to replace an existing file
// unless overwrite is set; writes to a temporary name and renames, so a failure leaves no partial file.
void save_safetensors(const std::string& path, const std::vector<std::pair<std::string, Tensor>>& tensors,
                      const std::map<std::string, std::string>& metadata = {}, bool overwrite = true);

std::optional<DType> dtype_from_safetensors(const std::string& s);
const char* dtype_to_safetensors(DType t);

}  // namespace sdpp
