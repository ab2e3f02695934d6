// How both attention kernels (attention.cpp, attention_bf16.cpp) split the work: items of
// (batch, head, block of kBq queries), handed out by a static OpenMP schedule. Included right
// after SDPP_KERNELS_BEGIN like vec.h (no guard, no namespace of its own).

constexpr int64_t kBq = 64;  // queries per work item

inline int64_t round_up(int64_t x, int64_t m) { return (x + m - 1) / m * m; }

// Long key sequences: items in (batch, head, query block) order, so a thread's contiguous run
// packs each head's K/V once and reuses it for all its query blocks. Short ones (cross-attention
// over 77 tokens, sk x dp within 32K floats): packing is cheap and a query row's work small, so the
// order is (batch, query block, head): all heads of a block of rows are done while those rows of q
// and y are in cache (measured 4096x77: ~25% faster).
inline bool heads_innermost(int64_t sk, int64_t dp) { return sk * dp <= 32768; }

struct AttentionItem {
    int64_t b, h, qb;
};
inline AttentionItem attention_item(int64_t t, bool head_inner, int64_t heads, int64_t nqb) {
    if (head_inner) return {t / (nqb * heads), t % heads, (t / heads) % nqb};
    return {t / (nqb * heads), (t / nqb) % heads, t % nqb};
}
