#include "io/mapped_file.h"

#include "core/error.h"

#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <vector>
#include <cstring>
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

namespace sdpp {
namespace {
// Live mappings, so release_pages can refuse memory that is not a read-only file mapping
// (DONTNEED on anonymous memory would zero it).
std::mutex g_live_mu;
std::vector<std::pair<const std::byte*, size_t>> g_live;
}  // namespace

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
        std::lock_guard lk(g_live_mu);
        g_live.emplace_back(m->data_, m->size_);
    }
    ::close(fd);
    return m;
}

MappedFile::~MappedFile() {
    if (!data_) return;
    {
        std::lock_guard lk(g_live_mu);
        std::erase(g_live, std::pair<const std::byte*, size_t>(data_, size_));
    }
    munmap(const_cast<std::byte*>(data_), size_);
}

size_t MappedFile::release_pages(const void* p, size_t n) {
    static const uintptr_t page = uintptr_t(sysconf(_SC_PAGESIZE));
    const auto b = reinterpret_cast<uintptr_t>(p), e = b + n;
    std::lock_guard lk(g_live_mu);  // held so the mapping cannot be unmapped meanwhile
    bool inside = std::any_of(g_live.begin(), g_live.end(), [&](const auto& m) {
        const auto mb = reinterpret_cast<uintptr_t>(m.first);
        return b >= mb && e <= mb + m.second && e >= b;
    });
    const uintptr_t lo = (b + page - 1) / page * page, hi = e / page * page;
    if (!inside || hi <= lo) return 0;
    if (madvise(reinterpret_cast<void*>(lo), hi - lo, MADV_DONTNEED) != 0) return 0;
    return hi - lo;
}

}  // namespace sdpp
