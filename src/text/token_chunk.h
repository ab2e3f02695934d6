// One 77-token chunk of a prompt as the text encoders take it: [start] + up to 75 prompt tokens
// + [end] + padding, with the A1111 emphasis weight of every position. A plain data type shared by
// the prompt parser (src/text) and the conditioning code (src/model); no functions.
#pragma once
#include <cstdint>
#include <vector>

namespace sdpp {

struct TokenChunk {
    std::vector<int32_t> ids;     // 77 ids
    std::vector<float> weights;   // 77 multipliers (1.0 at start, end and padding)
};

}  // namespace sdpp
