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

    // Its pages can be given back with release_file_pages (core/file_pages.h): it registers itself there.

private:
    MappedFile() = default;
    const std::byte* data_ = nullptr;
    size_t size_ = 0;
    std::string path_;
};

}  // namespace sdpp
