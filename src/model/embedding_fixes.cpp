// EmbeddingsWithFixes (stable-diffusion-webui modules/sd_hijack.py): the token-embedding rows of
// each textual-inversion slot replaced by the embedding's vectors.
#include "model/embedding_fixes.h"

#include "core/error.h"

#include <algorithm>

namespace sdpp {

bool has_embedding_fixes(std::span<const TokenChunk> chunks) {
    return std::any_of(chunks.begin(), chunks.end(), [](const TokenChunk& c) { return !c.fixes.empty(); });
}

void apply_embedding_fixes(Tensor& inputs_embeds, std::span<const TokenChunk> chunks) {
    SDPP_CHECK(inputs_embeds.ndim() == 3 && inputs_embeds.dim(0) == int64_t(chunks.size()),
               "embedding fixes: inputs_embeds ", inputs_embeds.shape_str(), " for ", chunks.size(), " chunks");
    const int64_t S = inputs_embeds.dim(1), W = inputs_embeds.dim(2);
    for (size_t i = 0; i < chunks.size(); ++i) {
        Tensor rows = inputs_embeds.select(0, int64_t(i));  // [S, W]
        for (const TokenChunk::Fix& f : chunks[i].fixes) {
            if (f.vectors.ndim() != 2 || f.vectors.dim(1) != W)
                throw error("embedding '", f.name, "' has vectors ", f.vectors.shape_str(), "; this text encoder takes width ",
                            W);
            SDPP_CHECK(f.offset >= 0 && f.offset + 1 < S, "embedding '", f.name, "': slot ", f.offset, " outside the chunk");
            const int64_t n = std::min<int64_t>(S - f.offset - 1, f.vectors.dim(0));
            rows.slice(0, f.offset + 1, f.offset + 1 + n).copy_from(f.vectors.slice(0, 0, n));
        }
    }
}

}  // namespace sdpp
