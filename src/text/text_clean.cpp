// CLIP text cleaning, mirroring:
//   open_clip v2.24 src/open_clip/tokenizer.py  basic_clean / whitespace_clean / _clean_lower
//   ftfy 6.x ftfy/__init__.py fix_text, fix_and_explain, _fix_encoding_one_step_and_explain;
//            ftfy/fixes.py (unescape_html, uncurl_quotes, fix_line_breaks, remove_terminal_escapes,
//            remove_control_chars, fix_latin_ligatures, fix_character_width, fix_c1_controls);
//            ftfy/chardata.py (LIGATURES, CONTROL_CHARS, WIDTH_MAP built from NFKC over U+FF01..U+FFEF)
//   CPython Lib/html/__init__.py unescape (HTML5 character references)
// Unicode normalisation and case mapping come from ICU (unicode.cpp).
#include "text/text_clean.h"

#include "text/html_entities.h"
#include "text/unicode.h"

#include <algorithm>
#include <optional>
#include <unordered_map>

namespace sdpp::text {
namespace {

// Windows-1252 bytes 0x80..0x9F. ftfy's "sloppy" variant (and CPython's html.unescape table) keeps
// the five undefined bytes 0x81, 0x8D, 0x8F, 0x90, 0x9D as the C1 code points of the same value.
constexpr char32_t kCp1252High[32] = {
    0x20AC, 0x0081, 0x201A, 0x0192, 0x201E, 0x2026, 0x2020, 0x2021, 0x02C6, 0x2030, 0x0160,
    0x2039, 0x0152, 0x008D, 0x017D, 0x008F, 0x0090, 0x2018, 0x2019, 0x201C, 0x201D, 0x2022,
    0x2013, 0x2014, 0x02DC, 0x2122, 0x0161, 0x203A, 0x0153, 0x009D, 0x017E, 0x0178};

bool is_ascii(std::u32string_view s) {
    return std::all_of(s.begin(), s.end(), [](char32_t c) { return c < 0x80; });
}

// ---- html.unescape ------------------------------------------------------------------------------

const HtmlEntity* find_entity(std::string_view name) {
    auto table = html5_entities();
    auto it = std::lower_bound(table.begin(), table.end(), name,
                               [](const HtmlEntity& e, std::string_view n) { return e.name < n; });
    return (it != table.end() && it->name == name) ? &*it : nullptr;
}

bool is_hex(char32_t c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F'); }

// A numeric reference's replacement (HTML5 "numeric character reference end state").
std::u32string numeric_reference(uint64_t num) {
    if (num == 0) return U"\uFFFD";
    if (num == 0x0D) return U"\r";
    if (num >= 0x80 && num <= 0x9F) return std::u32string(1, kCp1252High[num - 0x80]);
    if ((num >= 0xD800 && num <= 0xDFFF) || num > 0x10FFFF) return U"\uFFFD";
    bool invalid = (num >= 0x01 && num <= 0x08) || num == 0x0B || (num >= 0x0E && num <= 0x1F) || num == 0x7F ||
                   (num >= 0xFDD0 && num <= 0xFDEF) || (num & 0xFFFE) == 0xFFFE;
    if (invalid) return U"";
    return std::u32string(1, char32_t(num));
}

// ---- ftfy fixers --------------------------------------------------------------------------------

// ftfy's HTML_ENTITIES: "&name;" for every HTML5 name with ';', plus all-caps spellings of the
// lower-case names ("&NTILDE;" -> "Ñ") where the all-caps form is not itself a reference.
const std::unordered_map<std::string, std::u32string>& ftfy_entities() {
    static const std::unordered_map<std::string, std::u32string> m = [] {
        std::unordered_map<std::string, std::u32string> out;
        for (const HtmlEntity& e : html5_entities()) {
            if (e.name.empty() || e.name.back() != ';') continue;
            std::string key = "&" + std::string(e.name);
            out[key] = std::u32string(e.value);
            std::string upper = key;
            bool has_upper = false;
            for (char& ch : upper) {
                if (ch >= 'A' && ch <= 'Z') has_upper = true;
                if (ch >= 'a' && ch <= 'z') ch = char(ch - 32);
            }
            if (has_upper) continue;  // name != name.lower()
            std::u32string u32upper(upper.begin(), upper.end());
            if (html_unescape(u32upper) == u32upper) out[upper] = to_upper(e.value);
        }
        return out;
    }();
    return m;
}

// HTML_ENTITY_RE = "&#?[0-9A-Za-z]{1,24};" with _unescape_fixup.
std::u32string ftfy_unescape_html(std::u32string_view s) {
    if (s.find(U'&') == std::u32string_view::npos) return std::u32string(s);
    auto alnum = [](char32_t c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); };
    std::u32string out;
    size_t i = 0, n = s.size();
    while (i < n) {
        if (s[i] != U'&') {
            out.push_back(s[i++]);
            continue;
        }
        size_t j = i + 1;
        if (j < n && s[j] == U'#') ++j;
        size_t k = j;
        while (k < n && alnum(s[k])) ++k;
        size_t run = k - j;
        if (run < 1 || run > 24 || k >= n || s[k] != U';') {
            out.push_back(s[i++]);
            continue;
        }
        std::u32string_view match = s.substr(i, k + 1 - i);
        std::string key(match.begin(), match.end());  // ASCII by construction
        const auto& ents = ftfy_entities();
        if (auto it = ents.find(key); it != ents.end()) {
            out += it->second;
        } else if (match.size() > 1 && match[1] == U'#') {
            std::u32string u = html_unescape(match);
            // "If html.unescape only decoded part of the string ... the semicolon should be consumed."
            if (u.find(U';') != std::u32string::npos) out += match;
            else out += u;
        } else {
            out += match;
        }
        i = k + 1;
    }
    return out;
}

std::optional<std::u32string> utf8_strict(const std::string& bytes) {
    std::u32string d = utf8_decode(bytes);
    // utf8_decode only emits U+FFFD for bad input; a genuine EF BF BD also decodes to it.
    if (utf8_encode(d) != bytes) return std::nullopt;
    return d;
}

// Byte of `c` in ftfy's sloppy-windows-1252 codec (U+FFFD is written as 0x1A), or -1.
int sloppy_1252_byte(char32_t c) {
    if (c == 0xFFFD) return 0x1A;
    if (c == 0x1A) return -1;
    if (c < 0x80 || (c >= 0xA0 && c <= 0xFF)) return int(c);
    for (int b = 0; b < 32; ++b)
        if (kCp1252High[b] == c) return 0x80 + b;
    return -1;
}

// One step of ftfy's encoding repair, reduced to: the whole string re-read as UTF-8 after encoding
// it as Latin-1 or sloppy Windows-1252; then C1 controls as Windows-1252.
std::u32string fix_encoding_step(std::u32string_view s) {
    if (s.empty() || is_ascii(s)) return std::u32string(s);
    bool latin1 = std::all_of(s.begin(), s.end(), [](char32_t c) { return c <= 0xFF; });
    if (latin1) {
        std::string bytes(s.begin(), s.end());
        if (auto d = utf8_strict(bytes)) return *d;
    }
    std::string bytes;
    bool sloppy = true;
    for (char32_t c : s) {
        int b = sloppy_1252_byte(c);
        if (b < 0) { sloppy = false; break; }
        if (b == 0x1A) bytes += "\xEF\xBF\xBD";  // replace_lossy_sequences: a lost byte decodes to U+FFFD
        else bytes.push_back(char(b));
    }
    if (sloppy)
        if (auto d = utf8_strict(bytes)) return *d;
    std::u32string out(s);
    for (char32_t& c : out)
        if (c >= 0x80 && c <= 0x9F) c = kCp1252High[c - 0x80];
    return out;
}

std::u32string fix_encoding(std::u32string_view s) {
    std::u32string text(s);
    while (true) {
        std::u32string next = fix_encoding_step(text);
        if (next == text) return text;
        text = std::move(next);
    }
}

char32_t c1_to_1252(char32_t c) { return (c >= 0x80 && c <= 0x9F) ? kCp1252High[c - 0x80] : c; }

// chardata.LIGATURES: Latin ligatures and legacy digraphs (ftfy's own list, deliberately narrower
// than NFKC: 'ﬅ' becomes "ſt", and 'æ' is kept).
const char32_t* ligature(char32_t c) {
    switch (c) {
        case 0x0132: return U"IJ";
        case 0x0133: return U"ij";
        case 0x0149: return U"\u02BCn";
        case 0x01F1: return U"DZ";
        case 0x01F2: return U"Dz";
        case 0x01F3: return U"dz";
        case 0x01C4: return U"D\u017D";
        case 0x01C5: return U"D\u017E";
        case 0x01C6: return U"d\u017E";
        case 0x01C7: return U"LJ";
        case 0x01C8: return U"Lj";
        case 0x01C9: return U"lj";
        case 0x01CA: return U"NJ";
        case 0x01CB: return U"Nj";
        case 0x01CC: return U"nj";
        case 0xFB00: return U"ff";
        case 0xFB01: return U"fi";
        case 0xFB02: return U"fl";
        case 0xFB03: return U"ffi";
        case 0xFB04: return U"ffl";
        case 0xFB05: return U"\u017Ft";
        case 0xFB06: return U"st";
        default: return nullptr;
    }
}

// chardata.CONTROL_CHARS (tab, LF, FF and CR are kept).
bool is_removed_control(char32_t c) {
    return c <= 0x08 || c == 0x0B || (c >= 0x0E && c <= 0x1F) || c == 0x7F || (c >= 0x206A && c <= 0x206F) ||
           c == 0xFEFF || (c >= 0xFFF9 && c <= 0xFFFC);
}

std::u32string apply_char_fixes(std::u32string_view s) {
    std::u32string t;
    t.reserve(s.size());
    // fix_c1_controls, fix_latin_ligatures, fix_character_width, uncurl_quotes (in ftfy's order;
    // they touch disjoint characters, so one pass gives the same result).
    for (char32_t c : s) {
        c = c1_to_1252(c);
        if (const char32_t* lig = ligature(c)) {
            t += lig;
        } else if (c == 0x3000) {
            t.push_back(U' ');
        } else if (c >= 0xFF01 && c <= 0xFFEF) {
            char32_t one[1] = {c};
            t += normalize_nfkc(std::u32string_view(one, 1));
        } else if (c == 0x02BC || (c >= 0x2018 && c <= 0x201B)) {
            t.push_back(U'\'');
        } else if (c >= 0x201C && c <= 0x201F) {
            t.push_back(U'"');
        } else {
            t.push_back(c);
        }
    }
    // fix_line_breaks
    std::u32string u;
    u.reserve(t.size());
    for (size_t i = 0; i < t.size(); ++i) {
        char32_t c = t[i];
        if (c == U'\r') {
            u.push_back(U'\n');
            if (i + 1 < t.size() && t[i + 1] == U'\n') ++i;
        } else if (c == 0x2028 || c == 0x2029 || c == 0x0085) {
            u.push_back(U'\n');
        } else {
            u.push_back(c);
        }
    }
    // remove_terminal_escapes: "\033\[((?:\d|;)*)([a-zA-Z])"
    std::u32string v;
    v.reserve(u.size());
    for (size_t i = 0; i < u.size(); ++i) {
        if (u[i] == 0x1B && i + 1 < u.size() && u[i + 1] == U'[') {
            size_t j = i + 2;
            while (j < u.size() && (u[j] == U';' || decimal_digit(u[j]) >= 0)) ++j;
            if (j < u.size() && ((u[j] >= 'a' && u[j] <= 'z') || (u[j] >= 'A' && u[j] <= 'Z'))) {
                i = j;
                continue;
            }
        }
        v.push_back(u[i]);
    }
    // remove_control_chars
    std::u32string w;
    w.reserve(v.size());
    for (char32_t c : v)
        if (!is_removed_control(c)) w.push_back(c);
    return w;
}

// ftfy.fix_and_explain on one segment: apply every fix until the text stops changing.
std::u32string fix_segment(std::u32string_view seg, bool unescape) {
    std::u32string text(seg);
    if (text.find(U'<') != std::u32string::npos) unescape = false;
    while (true) {
        std::u32string orig = text;
        if (unescape) text = ftfy_unescape_html(text);
        text = fix_encoding(text);
        text = apply_char_fixes(text);
        text = normalize_nfc(text);
        if (text == orig) return text;
    }
}

}  // namespace

std::u32string html_unescape(std::u32string_view s) {
    if (s.find(U'&') == std::u32string_view::npos) return std::u32string(s);
    std::u32string out;
    size_t i = 0, n = s.size();
    while (i < n) {
        if (s[i] != U'&') {
            out.push_back(s[i++]);
            continue;
        }
        size_t j = i + 1;
        if (j < n && s[j] == U'#') {
            // "#[0-9]+;?" | "#[xX][0-9a-fA-F]+;?"
            bool hex = j + 1 < n && (s[j + 1] == U'x' || s[j + 1] == U'X');
            size_t k = j + (hex ? 2 : 1), start = k;
            uint64_t num = 0;
            while (k < n && (hex ? is_hex(s[k]) : (s[k] >= '0' && s[k] <= '9'))) {
                char32_t c = s[k];
                uint64_t d = c <= '9' ? c - '0' : (c | 0x20) - 'a' + 10;
                num = std::min<uint64_t>(num * (hex ? 16 : 10) + d, 0x7FFFFFFF);  // saturate: > 0x10FFFF anyway
                ++k;
            }
            if (k > start) {
                if (k < n && s[k] == U';') ++k;
                out += numeric_reference(num);
                i = k;
                continue;
            }
            out.push_back(s[i++]);  // '#' is not a name character: no match
            continue;
        }
        // "[^\t\n\f <&#;]{1,32};?"
        size_t k = j;
        auto name_char = [](char32_t c) {
            return c != U'\t' && c != U'\n' && c != U'\f' && c != U' ' && c != U'<' && c != U'&' && c != U'#' &&
                   c != U';';
        };
        while (k < n && k - j < 32 && name_char(s[k])) ++k;
        if (k == j) {
            out.push_back(s[i++]);
            continue;
        }
        if (k < n && s[k] == U';') ++k;
        std::u32string_view name32 = s.substr(j, k - j);
        bool ascii = is_ascii(name32);
        std::string name(ascii ? name32.size() : 0, '\0');
        if (ascii) std::copy(name32.begin(), name32.end(), name.begin());
        const HtmlEntity* e = ascii ? find_entity(name) : nullptr;
        if (e) {
            out += e->value;
        } else {
            // The longest prefix that is a (legacy, ';'-less) name: "&ampx" -> "&x".
            bool done = false;
            for (size_t x = name32.size() - 1; x >= 2 && x < name32.size(); --x) {
                std::u32string_view pre = name32.substr(0, x);
                if (!is_ascii(pre)) continue;
                if (const HtmlEntity* p = find_entity(std::string(pre.begin(), pre.end()))) {
                    out += p->value;
                    out += name32.substr(x);
                    done = true;
                    break;
                }
            }
            if (!done) {
                out.push_back(U'&');
                out += name32;
            }
        }
        i = k;
    }
    return out;
}

std::u32string ftfy_fix_text(std::u32string_view s) {
    // fix_text: independent segments ending at '\n' (at most 1e6 code points each); once a segment
    // contains '<', HTML unescaping stays off for the rest of the text.
    constexpr size_t kMaxDecodeLength = 1000000;
    std::u32string out;
    bool unescape = true;
    size_t pos = 0;
    while (pos < s.size()) {
        size_t brk = s.find(U'\n', pos);
        brk = brk == std::u32string_view::npos ? s.size() : brk + 1;
        if (brk - pos > kMaxDecodeLength) brk = pos + kMaxDecodeLength;
        std::u32string_view seg = s.substr(pos, brk - pos);
        if (seg.find(U'<') != std::u32string_view::npos) unescape = false;
        out += fix_segment(seg, unescape);
        pos = brk;
    }
    return out;
}

std::u32string clip_clean_text(std::string_view utf8) {
    std::u32string t = ftfy_fix_text(utf8_decode(utf8));
    t = html_unescape(html_unescape(t));
    std::u32string_view v = strip_py(t);
    std::u32string folded;
    folded.reserve(v.size());
    for (size_t i = 0; i < v.size();) {
        if (is_py_space(v[i])) {
            folded.push_back(U' ');
            while (i < v.size() && is_py_space(v[i])) ++i;
        } else {
            folded.push_back(v[i++]);
        }
    }
    return to_lower(strip_py(folded));
}

}  // namespace sdpp::text
