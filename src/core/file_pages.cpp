#include "core/file_pages.h"

#include <algorithm>
#include <cstdint>
#include <mutex>
#include <sys/mman.h>
#include <unistd.h>
#include <utility>
#include <vector>

namespace sdpp {

namespace {
std::mutex g_mu;
std::vector<std::pair<const std::byte*, size_t>> g_live;
}  // namespace

void register_file_mapping(const std::byte* p, size_t n) {
    std::lock_guard lk(g_mu);
    g_live.emplace_back(p, n);
}

void unregister_file_mapping(const std::byte* p, size_t n) {
    std::lock_guard lk(g_mu);
    std::erase(g_live, std::pair<const std::byte*, size_t>(p, n));
}

size_t release_file_pages(const void* p, size_t n) {
    static const uintptr_t page = uintptr_t(sysconf(_SC_PAGESIZE));
    const auto b = reinterpret_cast<uintptr_t>(p), e = b + n;
    std::lock_guard lk(g_mu);
    const bool inside = std::any_of(g_live.begin(), g_live.end(), [&](const auto& m) {
        const auto mb = reinterpret_cast<uintptr_t>(m.first);
        return b >= mb && e <= mb + m.second && e >= b;
    });
    const uintptr_t lo = (b + page - 1) / page * page, hi = e / page * page;
    if (!inside || hi <= lo) return 0;
    if (madvise(reinterpret_cast<void*>(lo), hi - lo, MADV_DONTNEED) != 0) return 0;
    return hi - lo;
}

}  // namespace sdpp
