#include "io/mapped_file.h"

#include "core/error.h"
#include "core/file_pages.h"

#include <cerrno>
#include <cstring>
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

namespace sdpp {

std::shared_ptr<const MappedFile> MappedFile::open(const std::string& path) {
    int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) throw error(path, ": cannot open: ", std::strerror(errno));
    struct stat st {};
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        ::close(fd);
        throw error(path, ": not a regular file");
    }
    auto m = std::shared_ptr<MappedFile>(new MappedFile());
    m->path_ = path;
    m->size_ = size_t(st.st_size);
    if (m->size_ > 0) {
        void* p = mmap(nullptr, m->size_, PROT_READ, MAP_PRIVATE, fd, 0);
        if (p == MAP_FAILED) {
            int e = errno;
            ::close(fd);
            throw error(path, ": cannot map: ", std::strerror(e));
        }
        m->data_ = static_cast<const std::byte*>(p);
        register_file_mapping(m->data_, m->size_);
    }
    ::close(fd);
    return m;
}

MappedFile::~MappedFile() {
    if (!data_) return;
    unregister_file_mapping(data_, size_);
    munmap(const_cast<std::byte*>(data_), size_);
}

}  // namespace sdpp
