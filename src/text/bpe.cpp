// CLIP byte-level BPE, mirroring open_clip v2.24 src/open_clip/tokenizer.py:
//   bytes_to_unicode, get_pairs, SimpleTokenizer.bpe / encode / decode, tokenize (padding)
// (the same algorithm as OpenAI CLIP's simple_tokenizer.py and HF CLIPTokenizer.bpe).
#include "text/bpe.h"

#include "core/error.h"
#include "text/text_clean.h"
#include "text/unicode.h"

#include <climits>

namespace sdpp::text {

char32_t byte_to_unicode(uint8_t b) {
    bool printable = (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE);
    if (printable) return b;
    // The non-printable bytes get 256, 257, ... in byte order.
    int n = 0;
    for (int x = 0; x < b; ++x) {
        bool p = (x >= '!' && x <= '~') || (x >= 0xA1 && x <= 0xAC) || (x >= 0xAE);
        if (!p) ++n;
    }
    return char32_t(256 + n);
}

ClipTokenizer::ClipTokenizer(std::shared_ptr<const ClipVocab> vocab) : vocab_(std::move(vocab)) {
    SDPP_CHECK(vocab_ && vocab_->sot_id >= 0 && vocab_->eot_id >= 0, "ClipTokenizer: incomplete vocabulary");
    for (int b = 0; b < 256; ++b) byte_encoder_[b] = std::u32string(1, byte_to_unicode(uint8_t(b)));
    auto it = vocab_->encoder.find(",</w>");
    comma_id_ = it == vocab_->encoder.end() ? -1 : it->second;
}

namespace {

// Case-insensitive literal match at position i (the pattern is compiled with IGNORECASE).
bool match_at(std::u32string_view s, size_t i, std::u32string_view lit) {
    if (i + lit.size() > s.size()) return false;
    for (size_t k = 0; k < lit.size(); ++k)
        if (s[i + k] != lit[k] && simple_fold(s[i + k]) != simple_fold(lit[k])) return false;
    return true;
}

// Under IGNORECASE the `regex` module's negated class [^\s\p{L}\p{N}] also rejects a character
// whose case variants are letters, while [\p{L}] tests the character itself; such a character
// (U+0345 COMBINING YPOGEGRAMMENI, which folds to iota) matches neither and is skipped.
bool is_letter_ci(char32_t c) {
    if (is_letter(c)) return true;
    if (c < 0x80) return false;
    return is_letter(simple_fold(c)) || is_letter(to_upper_simple(c)) || is_letter(to_lower_simple(c));
}

}  // namespace

std::vector<std::u32string> ClipTokenizer::split_words(std::u32string_view s) {
    // Alternatives in pattern order; the first that matches at the current position wins.
    static const std::u32string_view literals[] = {U"<start_of_text>", U"<end_of_text>", U"'s", U"'t", U"'re",
                                                   U"'ve", U"'m", U"'ll", U"'d"};
    std::vector<std::u32string> words;
    size_t i = 0, n = s.size();
    while (i < n) {
        size_t len = 0;
        for (std::u32string_view lit : literals)
            if (match_at(s, i, lit)) {
                len = lit.size();
                break;
            }
        if (len == 0) {
            char32_t c = s[i];
            if (is_letter(c)) {  // [\p{L}]+
                len = 1;
                while (i + len < n && is_letter(s[i + len])) ++len;
            } else if (is_number(c)) {  // [\p{N}]
                len = 1;
            } else if (!is_py_space(c) && !is_letter_ci(c)) {  // [^\s\p{L}\p{N}]+
                len = 1;
                while (i + len < n && !is_py_space(s[i + len]) && !is_letter_ci(s[i + len]) && !is_number(s[i + len]))
                    ++len;
            }
        }
        if (len == 0) {  // whitespace between matches
            ++i;
            continue;
        }
        words.emplace_back(s.substr(i, len));
        i += len;
    }
    return words;
}

std::vector<int32_t> ClipTokenizer::bpe(const std::string& word) const {
    {
        std::lock_guard<std::mutex> lock(mu_);
        if (auto it = cache_.find(word); it != cache_.end()) return it->second;
    }
    // Symbols: one per code point of the byte-unicode word; the last one carries '</w>'.
    std::vector<std::string> sym;
    for (char32_t c : utf8_decode(word)) {
        std::string s;
        utf8_append(s, c);
        sym.push_back(std::move(s));
    }
    if (sym.empty()) return {};
    sym.back() += "</w>";
    std::string key;
    while (sym.size() > 1) {
        // The adjacent pair of lowest merge rank.
        int best = INT_MAX;
        size_t best_i = 0;
        for (size_t i = 0; i + 1 < sym.size(); ++i) {
            key.assign(sym[i]).append(" ").append(sym[i + 1]);
            auto it = vocab_->merge_ranks.find(key);
            if (it != vocab_->merge_ranks.end() && it->second < best) {
                best = it->second;
                best_i = i;
            }
        }
        if (best == INT_MAX) break;
        // Merge every non-overlapping occurrence of that pair, left to right.
        const std::string first = sym[best_i], second = sym[best_i + 1];
        std::vector<std::string> merged;
        merged.reserve(sym.size());
        for (size_t i = 0; i < sym.size();) {
            if (i + 1 < sym.size() && sym[i] == first && sym[i + 1] == second) {
                merged.push_back(first + second);
                i += 2;
            } else {
                merged.push_back(sym[i]);
                ++i;
            }
        }
        sym = std::move(merged);
    }
    std::vector<int32_t> ids;
    ids.reserve(sym.size());
    for (const std::string& s : sym) {
        auto it = vocab_->encoder.find(s);
        if (it == vocab_->encoder.end())
            throw error("CLIP vocabulary ", vocab_->source, ": BPE symbol '", s, "' is not in the vocabulary (corrupt file?)");
        ids.push_back(it->second);
    }
    std::lock_guard<std::mutex> lock(mu_);
    if (cache_.size() > 200000) cache_.clear();  // bounded: prompts are short, adversarial input is not
    cache_.emplace(word, ids);
    return ids;
}

std::vector<int32_t> ClipTokenizer::encode(std::string_view text) const {
    std::vector<int32_t> ids;
    for (const std::u32string& w : split_words(clip_clean_text(text))) {
        // The specials are pre-seeded in open_clip's cache: they map straight to their ids.
        if (w == U"<start_of_text>") {
            ids.push_back(sot_id());
            continue;
        }
        if (w == U"<end_of_text>") {
            ids.push_back(eot_id());
            continue;
        }
        std::string bytes = utf8_encode(w), mapped;
        for (unsigned char b : bytes) utf8_append(mapped, byte_encoder_[b][0]);
        std::vector<int32_t> part = bpe(mapped);
        ids.insert(ids.end(), part.begin(), part.end());
    }
    return ids;
}

std::vector<int32_t> ClipTokenizer::encode_padded(std::string_view text, int context_length, int32_t pad_id) const {
    SDPP_CHECK(context_length >= 2, "encode_padded: context length ", context_length, " < 2");
    std::vector<int32_t> ids = encode(text);
    std::vector<int32_t> out;
    out.reserve(size_t(context_length));
    out.push_back(sot_id());
    out.insert(out.end(), ids.begin(), ids.end());
    out.push_back(eot_id());
    if (int(out.size()) > context_length) {
        out.resize(size_t(context_length));
        out.back() = eot_id();
    }
    out.resize(size_t(context_length), pad_id);
    return out;
}

std::string ClipTokenizer::token_string(int32_t id) const {
    SDPP_CHECK(id >= 0 && size_t(id) < vocab_->decoder.size(), "token id ", id, " outside the vocabulary (",
               vocab_->decoder.size(), ")");
    return vocab_->decoder[size_t(id)];
}

std::string ClipTokenizer::decode(const std::vector<int32_t>& ids) const {
    std::string joined;
    for (int32_t id : ids) joined += token_string(id);
    // Undo bytes_to_unicode; '</w>' marks a word end -> ' '.
    std::string out;
    std::u32string u = utf8_decode(joined);
    for (size_t i = 0; i < u.size(); ++i) {
        if (u.compare(i, 4, U"</w>") == 0) {
            out.push_back(' ');
            i += 3;
            continue;
        }
        int byte = -1;
        for (int b = 0; b < 256 && byte < 0; ++b)
            if (byte_encoder_[b][0] == u[i]) byte = b;
        if (byte >= 0) out.push_back(char(byte));
        else utf8_append(out, u[i]);  // special tokens spelled in plain text
    }
    return out;
}

}  // namespace sdpp::text
