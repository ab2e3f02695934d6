#include "core/allocator.h"

#include "core/error.h"

#include <algorithm>
#include <bit>
#include <cstdlib>

namespace sdpp {

Allocator::~Allocator() { trim(); }

// Four classes per power of two above 4 KiB (at most 25% slack), 64-byte granules below.
size_t Allocator::size_class(size_t bytes) {
    if (bytes == 0) bytes = 1;
    if (bytes <= 4096) return (bytes + 63) & ~size_t(63);
    size_t top = size_t(1) << (std::bit_width(bytes) - 1);  // highest power of two <= bytes
    size_t step = top / 4;
    return (bytes + step - 1) / step * step;
}

std::shared_ptr<std::byte> Allocator::allocate(size_t bytes) {
    const size_t cls = size_class(bytes);
    std::byte* p = nullptr;
    {
        std::lock_guard lock(mu_);
        auto it = free_.find(cls);
        if (it != free_.end() && !it->second.empty()) {
            p = it->second.back().p;
            it->second.pop_back();
            stats_.cached_bytes -= cls;
            ++stats_.n_reuses;
        }
    }
    if (!p) {
        {
            std::lock_guard lock(mu_);
            high_water_ = std::max(high_water_, stats_.live_bytes + cls);
            while (stats_.cached_bytes > 0 && stats_.live_bytes + stats_.cached_bytes + cls > high_water_)
                evict_oldest();
        }
        p = static_cast<std::byte*>(std::aligned_alloc(64, cls));
        if (!p) {
            trim();
            p = static_cast<std::byte*>(std::aligned_alloc(64, cls));
        }
        SDPP_CHECK(p, "out of memory allocating ", bytes, " bytes");
        std::lock_guard lock(mu_);
        ++stats_.n_allocs;
    }
    {
        std::lock_guard lock(mu_);
        stats_.live_bytes += cls;
        if (stats_.live_bytes > stats_.peak_bytes) stats_.peak_bytes = stats_.live_bytes;
    }
    return std::shared_ptr<std::byte>(p, [this, cls](std::byte* q) { release(q, cls); });
}

void Allocator::release(std::byte* p, size_t cls) {
    std::lock_guard lock(mu_);
    stats_.live_bytes -= cls;
    if (stats_.cached_bytes + cls > cache_limit_) {
        std::free(p);
        return;
    }
    free_[cls].push_back({p, ++clock_});
    stats_.cached_bytes += cls;
}

void Allocator::evict_oldest() {
    auto oldest = free_.end();
    for (auto it = free_.begin(); it != free_.end(); ++it)
        if (!it->second.empty() && (oldest == free_.end() || it->second.front().stamp < oldest->second.front().stamp))
            oldest = it;
    if (oldest == free_.end()) return;
    std::free(oldest->second.front().p);
    oldest->second.erase(oldest->second.begin());
    stats_.cached_bytes -= oldest->first;
    if (oldest->second.empty()) free_.erase(oldest);
}

AllocatorStats Allocator::stats() const {
    std::lock_guard lock(mu_);
    return stats_;
}

void Allocator::reset_peak() {
    std::lock_guard lock(mu_);
    stats_.peak_bytes = stats_.live_bytes;
}

void Allocator::trim() {
    std::lock_guard lock(mu_);
    for (auto& [cls, list] : free_)
        for (const Cached& c : list) std::free(c.p);
    free_.clear();
    stats_.cached_bytes = 0;
}

void Allocator::set_cache_limit(size_t bytes) {
    std::lock_guard lock(mu_);
    cache_limit_ = bytes;
}

Allocator& default_allocator() {
    // Deliberately leaked: blocks may be released during static destruction.
    static Allocator* a = new Allocator();
    return *a;
}

}  // namespace sdpp
