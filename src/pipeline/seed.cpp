// Seed text <-> the request's 64-bit seed (seed.h): modulo 2^64 like torch.manual_seed.
#include "pipeline/seed.h"

#include "core/error.h"

namespace sdpp {

int64_t seed_from_text(const std::string& text) {
    size_t i = 0;
    const bool negative = !text.empty() && text[0] == '-';
    if (negative || (!text.empty() && text[0] == '+')) i = 1;
    if (i == text.size()) throw error("seed '", text, "' is not an integer");
    uint64_t v = 0;  // unsigned arithmetic wraps: the value modulo 2^64
    for (; i < text.size(); ++i) {
        const char c = text[i];
        if (c < '0' || c > '9') throw error("seed '", text, "' is not an integer");
        v = v * 10 + uint64_t(c - '0');
    }
    if (negative) v = ~v + 1;
    if (v == UINT64_MAX && text != "-1")
        throw error("seed ", text, " is -1 modulo 2^64, which means a random seed; pick another");
    return int64_t(v);
}

std::string seed_text(int64_t seed) { return std::to_string(uint64_t(seed)); }

}  // namespace sdpp
