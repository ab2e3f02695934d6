// One 77-token chunk of a prompt as the text encoders take it: [start] + up to 75 prompt tokens
// + [end] + padding, with the A1111 emphasis weight of every position. A plain data type shared by
// the prompt parser (src/text) and the conditioning code (src/model); no functions.
#pragma once
#include "core/tensor.h"

#include <cstdint>
#include <string>
#include <vector>

namespace sdpp {

struct TokenChunk {
    std::vector<int32_t> ids;     // 77 ids
    std::vector<float> weights;   // 77 multipliers (1.0 at start, end and padding)
    // Textual-inversion embeddings in this chunk (A1111 PromptChunkFix): token-embedding rows
    // offset + 1 .. offset + N take the vectors (src/text/embeddings.h, src/model/embedding_fixes.h).
    struct Fix {
        int offset = 0;      // slot in the chunk's 75 prompt tokens
        Tensor vectors;      // [N, W] f32, for the encoder this chunk is for
        std::string name;    // the embedding's name
    };
    std::vector<Fix> fixes;
};

}  // namespace sdpp
