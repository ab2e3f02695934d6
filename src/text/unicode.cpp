// Unicode helpers over ICU's C API (uchar.h, unorm2.h, ustring.h). The definitions follow CPython's
// unicodeobject.c / _PyUnicode_IsWhitespace (str.isspace) and the `regex` module's \p{..} classes.
#include "text/unicode.h"

#include "core/error.h"

#include <unicode/uchar.h>
#include <unicode/unorm2.h>
#include <unicode/ustring.h>
#include <unicode/utf16.h>

#include <vector>

namespace sdpp::text {

std::u32string utf8_decode(std::string_view s) {
    std::u32string out;
    out.reserve(s.size());
    const auto* p = reinterpret_cast<const unsigned char*>(s.data());
    size_t n = s.size(), i = 0;
    while (i < n) {
        unsigned char b = p[i];
        if (b < 0x80) {
            out.push_back(b);
            ++i;
            continue;
        }
        int len = 0;
        char32_t c = 0, min = 0;
        if (b >= 0xC2 && b <= 0xDF) len = 2, c = b & 0x1F, min = 0x80;
        else if (b >= 0xE0 && b <= 0xEF) len = 3, c = b & 0x0F, min = 0x800;
        else if (b >= 0xF0 && b <= 0xF4) len = 4, c = b & 0x07, min = 0x10000;
        bool ok = len > 0 && i + size_t(len) <= n;
        for (int k = 1; ok && k < len; ++k) {
            if ((p[i + k] & 0xC0) != 0x80) ok = false;
            else c = (c << 6) | (p[i + k] & 0x3F);
        }
        if (ok && (c < min || c > 0x10FFFF || (c >= 0xD800 && c <= 0xDFFF))) ok = false;
        if (ok) {
            out.push_back(c);
            i += size_t(len);
        } else {
            out.push_back(0xFFFD);  // one replacement per bad byte, like Python's "replace"
            ++i;
        }
    }
    return out;
}

void utf8_append(std::string& out, char32_t c) {
    if (c < 0x80) {
        out.push_back(char(c));
    } else if (c < 0x800) {
        out.push_back(char(0xC0 | (c >> 6)));
        out.push_back(char(0x80 | (c & 0x3F)));
    } else if (c < 0x10000) {
        out.push_back(char(0xE0 | (c >> 12)));
        out.push_back(char(0x80 | ((c >> 6) & 0x3F)));
        out.push_back(char(0x80 | (c & 0x3F)));
    } else {
        out.push_back(char(0xF0 | (c >> 18)));
        out.push_back(char(0x80 | ((c >> 12) & 0x3F)));
        out.push_back(char(0x80 | ((c >> 6) & 0x3F)));
        out.push_back(char(0x80 | (c & 0x3F)));
    }
}

std::string utf8_encode(std::u32string_view s) {
    std::string out;
    out.reserve(s.size());
    for (char32_t c : s) utf8_append(out, c);
    return out;
}

bool is_py_space(char32_t c) {
    if (c == ' ' || (c >= 0x09 && c <= 0x0D) || (c >= 0x1C && c <= 0x1F)) return true;
    if (c < 0x80) return false;
    UCharDirection d = u_charDirection(UChar32(c));
    return u_charType(UChar32(c)) == U_SPACE_SEPARATOR || d == U_WHITE_SPACE_NEUTRAL ||
           d == U_BLOCK_SEPARATOR || d == U_SEGMENT_SEPARATOR;
}

bool is_letter(char32_t c) { return (U_GET_GC_MASK(UChar32(c)) & U_GC_L_MASK) != 0; }

bool is_number(char32_t c) { return (U_GET_GC_MASK(UChar32(c)) & U_GC_N_MASK) != 0; }

int decimal_digit(char32_t c) {
    if (c >= '0' && c <= '9') return int(c - '0');
    if (u_charType(UChar32(c)) != U_DECIMAL_DIGIT_NUMBER) return -1;
    return u_charDigitValue(UChar32(c));
}

bool is_py_word(char32_t c) {
    return c == '_' || is_letter(c) || is_number(c) || u_getNumericValue(UChar32(c)) != U_NO_NUMERIC_VALUE;
}

char32_t simple_fold(char32_t c) { return char32_t(u_foldCase(UChar32(c), U_FOLD_CASE_DEFAULT)); }
char32_t to_upper_simple(char32_t c) { return char32_t(u_toupper(UChar32(c))); }
char32_t to_lower_simple(char32_t c) { return char32_t(u_tolower(UChar32(c))); }

namespace {

std::vector<UChar> to_utf16(std::u32string_view s) {
    std::vector<UChar> out;
    out.reserve(s.size() + 1);
    for (char32_t c : s) {
        if (c <= 0xFFFF) {
            out.push_back(UChar(c));
        } else {
            out.push_back(U16_LEAD(c));
            out.push_back(U16_TRAIL(c));
        }
    }
    return out;
}

std::u32string from_utf16(const UChar* p, int32_t n) {
    std::u32string out;
    out.reserve(size_t(n));
    for (int32_t i = 0; i < n;) {
        UChar32 c;
        U16_NEXT(p, i, n, c);
        out.push_back(char32_t(c));
    }
    return out;
}

// Runs an ICU "preflight then fill" string function.
template <class F>
std::u32string icu_transform(std::u32string_view s, const char* what, F&& fn) {
    std::vector<UChar> src = to_utf16(s);
    std::vector<UChar> dst(src.size() * 3 + 16);
    UErrorCode st = U_ZERO_ERROR;
    int32_t n = fn(src.data(), int32_t(src.size()), dst.data(), int32_t(dst.size()), &st);
    if (st == U_BUFFER_OVERFLOW_ERROR) {
        dst.resize(size_t(n) + 1);
        st = U_ZERO_ERROR;
        n = fn(src.data(), int32_t(src.size()), dst.data(), int32_t(dst.size()), &st);
    }
    if (U_FAILURE(st)) throw error("ICU ", what, " failed: ", u_errorName(st));
    return from_utf16(dst.data(), n);
}

std::u32string normalize(std::u32string_view s, const UNormalizer2* norm, const char* what) {
    return icu_transform(s, what, [norm](const UChar* src, int32_t n, UChar* dst, int32_t cap, UErrorCode* st) {
        return unorm2_normalize(norm, src, n, dst, cap, st);
    });
}

const UNormalizer2* instance(bool compat) {
    UErrorCode st = U_ZERO_ERROR;
    const UNormalizer2* n = compat ? unorm2_getNFKCInstance(&st) : unorm2_getNFCInstance(&st);
    if (U_FAILURE(st) || !n) throw error("ICU normalizer unavailable: ", u_errorName(st));
    return n;
}

}  // namespace

std::u32string normalize_nfc(std::u32string_view s) {
    static const UNormalizer2* n = instance(false);
    bool ascii = true;
    for (char32_t c : s) ascii = ascii && c < 0x80;
    if (ascii) return std::u32string(s);
    return normalize(s, n, "NFC");
}

std::u32string normalize_nfkc(std::u32string_view s) {
    static const UNormalizer2* n = instance(true);
    return normalize(s, n, "NFKC");
}

std::u32string to_lower(std::u32string_view s) {
    bool ascii = true;
    for (char32_t c : s) ascii = ascii && c < 0x80;
    if (ascii) {
        std::u32string out(s);
        for (char32_t& c : out)
            if (c >= 'A' && c <= 'Z') c += 32;
        return out;
    }
    // The root locale ("") gives the language-independent full mapping Python uses.
    return icu_transform(s, "lower-case", [](const UChar* src, int32_t n, UChar* dst, int32_t cap, UErrorCode* st) {
        return u_strToLower(dst, cap, src, n, "", st);
    });
}

std::u32string to_upper(std::u32string_view s) {
    return icu_transform(s, "upper-case", [](const UChar* src, int32_t n, UChar* dst, int32_t cap, UErrorCode* st) {
        return u_strToUpper(dst, cap, src, n, "", st);
    });
}

std::u32string_view strip_py(std::u32string_view s) {
    size_t b = 0, e = s.size();
    while (b < e && is_py_space(s[b])) ++b;
    while (e > b && is_py_space(s[e - 1])) --e;
    return s.substr(b, e - b);
}

}  // namespace sdpp::text
