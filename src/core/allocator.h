// Caching allocator for tensor storage (the MLX BufferCache idea): freed blocks go back to a
// per-size-class free list and are reused, so after the first denoising step nothing calls malloc.
// The footprint (live + cached) stays within 1.25x the high-water mark of live bytes: a request the
// cache cannot serve first frees the longest-cached blocks (sizes an earlier stage used, e.g. the
// VAE decoder's lower resolutions), instead of holding one block per size class ever seen.
// It keeps the live and peak byte counts the CLI reports with --verbose.
//
// Which allocator a new tensor comes from: the one an op's Ctx names (ops.h), else the calling
// thread's current allocator (AllocatorScope), else the process's default one. An Engine scopes
// its own allocator over each request, so two Engines count their memory apart.
#pragma once
#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <vector>

namespace sdpp {

// Where a block of memory lives; a tensor carries the device of its storage. Host memory only, for
// now: a device backend adds its kind here with an allocator for it.
enum class Device : uint8_t { CPU };

struct AllocatorStats {
    size_t live_bytes = 0;     // bytes handed out and not yet released
    size_t peak_bytes = 0;     // high-water mark of live_bytes since the last reset_peak()
    size_t cached_bytes = 0;   // bytes held in free lists
    uint64_t n_allocs = 0;     // calls that reached the system allocator
    uint64_t n_reuses = 0;     // calls served from the cache
};

class Allocator {
public:
    Allocator() = default;
    ~Allocator();
    Allocator(const Allocator&) = delete;
    Allocator& operator=(const Allocator&) = delete;

    // 64-byte aligned block of at least `bytes`; the block returns to this cache when the last
    // owner drops it. The allocator must outlive every block (the default one lives forever).
    std::shared_ptr<std::byte> allocate(size_t bytes);

    AllocatorStats stats() const;
    void reset_peak();
    // Frees every cached block (e.g. after a generation, or before loading the VAE).
    void trim();
    // The cache keeps at most this many bytes in free lists; larger frees go to the system.
    void set_cache_limit(size_t bytes);

    static size_t size_class(size_t bytes);
    Device device() const { return Device::CPU; }

private:
    void release(std::byte* p, size_t cls);
    void evict_oldest();  // mu_ held

    struct Cached {
        std::byte* p;
        uint64_t stamp;  // release order
    };
    mutable std::mutex mu_;
    std::map<size_t, std::vector<Cached>> free_;  // oldest first within a class
    AllocatorStats stats_;
    size_t high_water_ = 0;  // most live bytes ever (not reset by reset_peak)
    uint64_t clock_ = 0;
    size_t cache_limit_ = size_t(8) << 30;
};

// The process-wide allocator tensors use unless told otherwise.
Allocator& default_allocator();

// This thread's current allocator: the innermost AllocatorScope's, else default_allocator().
// Kernels that allocate on worker threads take it on the calling thread and pass it on.
Allocator& current_allocator();

// Makes `a` this thread's current allocator until the scope ends (scopes nest).
class AllocatorScope {
public:
    explicit AllocatorScope(Allocator& a);
    ~AllocatorScope();
    AllocatorScope(const AllocatorScope&) = delete;
    AllocatorScope& operator=(const AllocatorScope&) = delete;

private:
    Allocator* previous_;
};

}  // namespace sdpp
