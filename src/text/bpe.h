// CLIP's byte-level BPE tokenizer, as open_clip's SimpleTokenizer (open_clip v2.24
// src/open_clip/tokenizer.py) with ftfy: text cleaning (text_clean.h), the pre-tokenisation
// pattern, bytes -> printable code points, '</w>' end-of-word, greedy lowest-rank merges, a cache.
//
// The vocabulary is never part of sdpp: it is read from bpe_simple_vocab_16e6.txt.gz (open_clip /
// OpenAI CLIP) or from a diffusers/HF tokenizer folder (vocab.json + merges.txt). find_clip_vocab()
// says where a user's copy is.
#pragma once
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace sdpp::text {

struct ClipVocab {
    std::unordered_map<std::string, int32_t> encoder;       // byte-unicode token (UTF-8) -> id
    std::vector<std::string> decoder;                        // id -> token
    std::unordered_map<std::string, int32_t> merge_ranks;   // "first second" -> rank
    int32_t sot_id = -1;                                     // <start_of_text> / <|startoftext|>
    int32_t eot_id = -1;                                     // <end_of_text> / <|endoftext|>
    std::string source;                                      // where it was loaded from (for messages)

    // `path`: a .gz merges file, a vocab.json or merges.txt (its sibling is read too), or a folder
    // holding either form. Missing or corrupt files throw sdpp::Error with a one-line reason.
    static std::shared_ptr<const ClipVocab> load(const std::string& path);
    size_t size() const { return decoder.size(); }
};

// Where the CLIP vocabulary for a model comes from, in order:
//   1. the model's diffusers tokenizer folder (<model_dir>/<subfolder>/vocab.json + merges.txt),
//      when `model_path` is a diffusers folder;
//   2. `vocab_flag` (the user's --vocab PATH), which must exist when given;
//   3. sdpp's cache (core/cache_root.h): <cache root>/clip/ (vocab.json + merges.txt,
//      or bpe_simple_vocab_16e6.txt.gz);
//   4. otherwise an sdpp::Error saying how to get one.
// Returns a path ClipVocab::load accepts.
std::string find_clip_vocab(const std::string& model_path, const std::string& vocab_flag,
                            const std::string& subfolder = "tokenizer");

class ClipTokenizer {
public:
    explicit ClipTokenizer(std::shared_ptr<const ClipVocab> vocab);
    static ClipTokenizer from_path(const std::string& path) { return ClipTokenizer(ClipVocab::load(path)); }

    // SimpleTokenizer.encode: cleaned, pre-tokenised, BPE ids; no start/end, no padding or truncation.
    std::vector<int32_t> encode(std::string_view text) const;
    // open_clip.tokenize for one text: [sot] + ids + [eot], cut to `context_length` with eot forced
    // into the last slot, then padded with `pad_id` (0 for open_clip, eot for HF CLIPTokenizer).
    std::vector<int32_t> encode_padded(std::string_view text, int context_length, int32_t pad_id) const;

    std::string token_string(int32_t id) const;  // vocab string, '</w>' included
    // Inverse of encode (up to cleaning): byte-unicode decoded, '</w>' -> ' '.
    std::string decode(const std::vector<int32_t>& ids) const;

    int32_t sot_id() const { return vocab_->sot_id; }
    int32_t eot_id() const { return vocab_->eot_id; }
    int32_t comma_id() const { return comma_id_; }  // ",</w>": A1111 splits long prompts after it
    const ClipVocab& vocab() const { return *vocab_; }

    // The pre-tokeniser: open_clip's pattern over cleaned text,
    // <start_of_text>|<end_of_text>|'s|'t|'re|'ve|'m|'ll|'d|[\p{L}]+|[\p{N}]|[^\s\p{L}\p{N}]+
    static std::vector<std::u32string> split_words(std::u32string_view cleaned);

private:
    std::shared_ptr<const ClipVocab> vocab_;
    int32_t comma_id_ = -1;
    std::u32string byte_encoder_[256];
    mutable std::mutex mu_;
    mutable std::unordered_map<std::string, std::vector<int32_t>> cache_;

    std::vector<int32_t> bpe(const std::string& word) const;  // word = byte-unicode UTF-8
};

// bytes_to_unicode(): printable code point standing for each byte (printable Latin-1 bytes map to
// themselves, the others to 256 + n).
char32_t byte_to_unicode(uint8_t b);

}  // namespace sdpp::text
