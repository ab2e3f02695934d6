// Seeds as A1111 and torch take them: any integer, reduced modulo 2^64 (torch's manual_seed wraps
// negative seeds the same way), -1 = random. GenerateRequest::seed (int64) holds the 64-bit
// pattern, so a seed above 2^63-1 is stored negative and shown unsigned.
#pragma once
#include <cstdint>
#include <string>

namespace sdpp {

// Decimal integer text -> seed (mod 2^64); "-1" -> -1 (random). Throws sdpp::Error for text that
// is not an integer, or that is 2^64-1 modulo 2^64 without being "-1" (it would read as random).
int64_t seed_from_text(const std::string& text);
// The seed as A1111 writes it: the unsigned 64-bit value.
std::string seed_text(int64_t seed);
// Image i of a run: seed + i, modulo 2^64.
inline int64_t seed_plus(int64_t seed, int64_t i) { return int64_t(uint64_t(seed) + uint64_t(i)); }
// Image i's seed (A1111 processing.py): seeds count up, except with a variation strength, where
// every image keeps the main seed and only the subseeds (seed_plus(subseed, i)) count up.
inline int64_t image_seed(int64_t seed, float subseed_strength, int64_t i) {
    return subseed_strength != 0.0f ? seed : seed_plus(seed, i);
}

}  // namespace sdpp
