// Unicode helpers for the tokenizer's text cleaning: UTF-8 <-> code points, the character classes
// Python's `str`/`re`/`regex` use (\s, \p{L}, \p{N}), normalisation and lower-casing. Character
// data comes from ICU (Debian's libicu), never from hand-written tables.
#pragma once
#include <string>
#include <string_view>

namespace sdpp::text {

// Invalid UTF-8 bytes decode to U+FFFD (Python's errors="replace").
std::u32string utf8_decode(std::string_view s);
std::string utf8_encode(std::u32string_view s);
void utf8_append(std::string& out, char32_t c);

// Python str.isspace() / `re` \s: bidirectional class WS, B or S, or general category Zs.
bool is_py_space(char32_t c);
// \p{L}: general category Lu, Ll, Lt, Lm, Lo.
bool is_letter(char32_t c);
// \p{N}: general category Nd, Nl, No.
bool is_number(char32_t c);
// \d (Unicode decimal digit, category Nd); returns the digit value or -1.
int decimal_digit(char32_t c);
// \w as Python's `re` defines it for str patterns (alphanumeric or underscore).
bool is_py_word(char32_t c);

// Simple case folding (what a regex IGNORECASE comparison uses).
char32_t simple_fold(char32_t c);
// Simple (one code point) upper / lower case mappings.
char32_t to_upper_simple(char32_t c);
char32_t to_lower_simple(char32_t c);

// unicodedata.normalize("NFC" / "NFKC", s).
std::u32string normalize_nfc(std::u32string_view s);
std::u32string normalize_nfkc(std::u32string_view s);
// Python str.lower(): full lower-case mapping (SpecialCasing, Final_Sigma), locale independent.
std::u32string to_lower(std::u32string_view s);
// Python str.upper() (full mapping, e.g. 'ß' -> "SS").
std::u32string to_upper(std::u32string_view s);

// Python str.strip() with no argument.
std::u32string_view strip_py(std::u32string_view s);

}  // namespace sdpp::text
