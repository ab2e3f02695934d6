#include "io/base64.h"

#include "core/error.h"

namespace sdpp {

namespace {
constexpr char kAlphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

int digit(char c) {
    if (c >= 'A' && c <= 'Z') return c - 'A';
    if (c >= 'a' && c <= 'z') return c - 'a' + 26;
    if (c >= '0' && c <= '9') return c - '0' + 52;
    if (c == '+') return 62;
    if (c == '/') return 63;
    return -1;
}
}  // namespace

std::string base64_encode(const uint8_t* data, size_t size) {
    std::string out;
    out.reserve((size + 2) / 3 * 4);
    for (size_t i = 0; i < size; i += 3) {
        // 3 bytes -> 24 bits -> 4 digits; a short last group is padded with '='.
        uint32_t v = uint32_t(data[i]) << 16;
        if (i + 1 < size) v |= uint32_t(data[i + 1]) << 8;
        if (i + 2 < size) v |= data[i + 2];
        out += kAlphabet[v >> 18 & 63];
        out += kAlphabet[v >> 12 & 63];
        out += i + 1 < size ? kAlphabet[v >> 6 & 63] : '=';
        out += i + 2 < size ? kAlphabet[v & 63] : '=';
    }
    return out;
}

std::vector<uint8_t> base64_decode(std::string_view text, const std::string& what) {
    std::vector<uint8_t> out;
    out.reserve(text.size() / 4 * 3);
    uint32_t bits = 0;
    int n_bits = 0;
    bool padding = false;
    for (char c : text) {
        if (c == ' ' || c == '\n' || c == '\r' || c == '\t') continue;
        if (c == '=') {
            padding = true;
            continue;
        }
        int d = digit(c);
        if (d < 0 || padding) throw error(what, ": not valid base64");
        bits = bits << 6 | uint32_t(d);
        n_bits += 6;
        if (n_bits >= 8) {
            n_bits -= 8;
            out.push_back(uint8_t(bits >> n_bits & 0xFF));
        }
    }
    if (n_bits >= 6) throw error(what, ": base64 data is truncated");  // one lone digit
    return out;
}

}  // namespace sdpp
