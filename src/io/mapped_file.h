// Read-only memory map of a whole file, shared by the tensors that borrow from it.
#pragma once
#include <cstddef>
#include <memory>
#include <string>

namespace sdpp {

class MappedFile {
public:
    // Throws sdpp::Error "<path>: <reason>" when the file cannot be opened or mapped.
    static std::shared_ptr<const MappedFile> open(const std::string& path);
    ~MappedFile();
    MappedFile(const MappedFile&) = delete;
    MappedFile& operator=(const MappedFile&) = delete;

    const std::byte* data() const { return data_; }
    size_t size() const { return size_; }
    const std::string& path() const { return path_; }

    // Drops the resident pages of [p, p + n) from this process (madvise DONTNEED, whole pages
    // inside the range only). The mapping is read-only, so nothing is lost: a later read faults the
    // pages back in from the page cache. Returns the bytes released; 0 when the range is not
    // (entirely) inside a live mapping, so callers may pass any tensor's memory.
    static size_t release_pages(const void* p, size_t n);

private:
    MappedFile() = default;
    const std::byte* data_ = nullptr;
    size_t size_ = 0;
    std::string path_;
};

}  // namespace sdpp
