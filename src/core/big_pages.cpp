#include "core/big_pages.h"

#include <cstdint>
#include <sys/mman.h>

namespace sdpp {

namespace {
constexpr size_t kHuge = size_t(2) << 20;
}

std::byte* map_big(size_t bytes) {
    if (bytes < kHuge) {
        void* p = mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        return p == MAP_FAILED ? nullptr : static_cast<std::byte*>(p);
    }
    // Over-map by one huge page and cut the ends off, so the block starts on a 2 MiB boundary
    // (THP only backs aligned 2 MiB ranges).
    void* raw = mmap(nullptr, bytes + kHuge, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (raw == MAP_FAILED) return nullptr;
    const uintptr_t b = reinterpret_cast<uintptr_t>(raw), a = (b + kHuge - 1) / kHuge * kHuge;
    if (a > b) munmap(raw, a - b);
    if (const size_t tail = b + bytes + kHuge - (a + bytes)) munmap(reinterpret_cast<void*>(a + bytes), tail);
    madvise(reinterpret_cast<void*>(a), bytes, MADV_HUGEPAGE);  // a hint; ignored where THP is off
    return reinterpret_cast<std::byte*>(a);
}

void unmap_big(std::byte* p, size_t bytes) {
    if (p) munmap(p, bytes);
}

}  // namespace sdpp
