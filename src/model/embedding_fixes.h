// Textual-inversion vectors into the token embeddings, as AUTOMATIC1111 stable-diffusion-webui
// modules/sd_hijack.py EmbeddingsWithFixes.forward does: for each fix of a chunk (TokenChunk::fixes,
// made by src/text/embeddings.h at tokenisation), rows offset + 1 .. offset + N of that chunk's
// token embeddings (before the position embeddings) become the embedding's vectors, clipped at the
// end of the chunk (emb_len = min(S - offset - 1, N)).
#pragma once
#include "core/tensor.h"
#include "text/token_chunk.h"

#include <span>

namespace sdpp {

// True when any chunk carries a fix.
bool has_embedding_fixes(std::span<const TokenChunk> chunks);

// inputs_embeds [n_chunks, S, W] (f32, contiguous), chunk i's fixes written into row block i.
// A fix whose width is not W is an sdpp::Error naming the embedding.
void apply_embedding_fixes(Tensor& inputs_embeds, std::span<const TokenChunk> chunks);

}  // namespace sdpp
