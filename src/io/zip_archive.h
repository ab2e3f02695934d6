// Read-only zip archives for PyTorch checkpoints (torch.save's zip format, torch >= 1.6).
// libzip validates the archive and inflates compressed entries; a small central-directory walk
// (PKWARE APPNOTE 6.3.x sections 4.3.7, 4.3.12, 4.3.14-16, 4.5.3) finds where STORED entries'
// bytes lie in the file, so tensor storages (torch writes them uncompressed and 64-byte aligned)
// can be borrowed from the memory map without a copy.
// Every size the archive declares is checked against the file size, a compression-ratio bound
// and a caller-given cap before anything is allocated (zip bombs, lying headers).
#pragma once
#include "io/mapped_file.h"

#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace sdpp {

struct ZipEntry {
    std::string name;
    uint64_t size = 0;        // uncompressed bytes, as declared
    uint64_t comp_size = 0;   // bytes in the archive, as declared
    uint16_t method = 0;      // 0 = stored, 8 = deflate, ...
    bool encrypted = false;
    uint64_t index = 0;       // libzip index
    // Byte offset of the entry's data in the file, when it is STORED (size == comp_size) and its
    // local header was found and checked; nullopt otherwise.
    std::optional<uint64_t> data_offset;
};

struct ZipLimits {
    uint64_t max_entry_bytes = uint64_t(64) << 30;  // no single entry may declare more than this
    uint64_t max_entries = 1u << 20;
};

class ZipArchive {
public:
    // Maps `path` and opens it as a zip. Errors read "<path>: <reason>".
    static ZipArchive open(const std::string& path, const ZipLimits& limits = {});
    // Opens an archive that already lies in memory; `owner` keeps `data` alive. `name` prefixes
    // error messages. Used by open() and the fuzzers.
    static ZipArchive from_memory(std::shared_ptr<const void> owner, const std::byte* data, size_t size,
                                  const std::string& name, const ZipLimits& limits = {});

    ZipArchive(ZipArchive&&) noexcept;
    ZipArchive& operator=(ZipArchive&&) noexcept;
    ~ZipArchive();

    const std::string& name() const { return name_; }
    const std::vector<ZipEntry>& entries() const { return entries_; }
    const ZipEntry* find(std::string_view entry_name) const;

    // Copies (inflating if needed) an entry into owned memory. Refuses entries that declare more
    // than min(max_bytes, limits.max_entry_bytes, physical memory) bytes, that claim an impossible
    // compression ratio, or whose data does not match the declared size or CRC.
    std::vector<std::byte> read(const ZipEntry& e, uint64_t max_bytes) const;

    // The entry's bytes inside the mapped file (zero copy) when it is stored uncompressed at a
    // known offset; nullopt otherwise.
    std::optional<std::span<const std::byte>> stored_span(const ZipEntry& e) const;

    // Owner of the memory stored_span() points into (share it with tensors that borrow from it).
    const std::shared_ptr<const void>& owner() const { return owner_; }

private:
    ZipArchive() = default;
    struct ZipCloser {
        void operator()(void* z) const;
    };
    std::shared_ptr<const void> owner_;
    const std::byte* data_ = nullptr;
    size_t size_ = 0;
    std::string name_;
    ZipLimits limits_;
    std::unique_ptr<void, ZipCloser> zip_;  // zip_t*
    std::vector<ZipEntry> entries_;
    std::map<std::string, size_t, std::less<>> index_;
};

// Bytes of physical memory (a cap for owned allocations); 0 if unknown.
uint64_t physical_memory_bytes();

}  // namespace sdpp
