// A1111 prompt syntax and chunking, mirroring stable-diffusion-webui modules/prompt_parser.py
// (parse_prompt_attention, re_attention, re_break) and modules/sd_hijack_clip.py
// (FrozenCLIPEmbedderWithCustomWordsBase.tokenize_line / next_chunk / process_tokens):
//   (word) x1.1, ((word)) x1.21, [word] /1.1, (word:1.3), nesting, \( \) \[ \] \\ escapes,
//   unbalanced brackets closed at the end, BREAK starting a new chunk, 75-token chunks wrapped in
//   start/end and padded to 77, a chunk that fills up moving the text after its last comma (within
//   20 tokens) into the next chunk.
#pragma once
#include "text/bpe.h"
#include "text/token_chunk.h"

#include <string>
#include <string_view>
#include <vector>

namespace sdpp::text {

class EmbeddingMatcher;  // text/embeddings.h

struct WeightedText {
    std::string text;
    double weight = 1.0;  // -1 (exactly) marks a BREAK
    bool operator==(const WeightedText&) const = default;
};

// parse_prompt_attention: fragments with their multipliers; runs of equal weight merged; never
// empty ([("", 1.0)] for an empty prompt). With emphasis off, A1111 keeps the line as one fragment.
std::vector<WeightedText> parse_prompt_attention(std::string_view prompt);

struct ChunkOptions {
    int chunk_length = 75;        // prompt tokens per chunk (77 - start - end)
    int comma_backtrack = 20;     // opts.comma_padding_backtrack (0 = off)
    bool emphasis = true;         // opts.emphasis != "None"
    // Textual-inversion embeddings (text/embeddings.h): a name's tokens become N slots with the
    // embedding's vectors (TokenChunk::fixes); nullptr = none.
    EmbeddingMatcher* embeddings = nullptr;
};

struct PromptChunks {
    std::vector<TokenChunk> chunks;  // at least one
    int token_count = 0;             // A1111's count (what the UI shows as N/75, N/150, ...)
};

// tokenize_line for one encoder: `pad_id` fills the positions after the end token (the end token
// itself for CLIP-L / HF tokenizers, 0 for OpenCLIP encoders, as A1111's process_tokens does).
PromptChunks tokenize_prompt(const ClipTokenizer& tok, std::string_view prompt, int32_t pad_id,
                             const ChunkOptions& opt = {});

// A chunk that encodes exactly like the empty prompt "" (A1111 pads the shorter of the positive
// and negative conditioning with the empty prompt's embedding).
TokenChunk empty_chunk(const ClipTokenizer& tok, int32_t pad_id, int chunk_length = 75);

// Appends empty chunks to the shorter of `a` and `b` so both have the same chunk count.
void equalize_chunk_counts(PromptChunks& a, PromptChunks& b, const ClipTokenizer& tok, int32_t pad_a, int32_t pad_b);

}  // namespace sdpp::text
