// Prompt conditioning as the reference UIs build it from token chunks (src/text/prompt_parser.h):
//   SD 1.x  context = last_hidden_state (final LayerNorm); CLIP skip N (A1111
//           CLIP_stop_at_last_layers) = final_layer_norm(hidden_states[-N])
//   SD 2.x  context = ln_final(hidden_states[-2]) of the OpenCLIP-H tower (A1111 and sgm ignore
//           CLIP skip here)
//   SDXL    context = cat(CLIP-L hidden_states[-2], OpenCLIP-bigG hidden_states[-2]) along the
//           channels, no final LayerNorm; pooled = bigG text_embeds (final LN at the end token,
//           then text_projection) of the first chunk. The refiner has bigG only.
// Chunks are encoded separately and concatenated along the sequence; A1111's "Original" emphasis
// scales each chunk's hidden states by the token weights and restores the chunk's mean.
// Mirrors stable-diffusion-webui modules/sd_hijack_clip.py (forward, process_tokens,
// encode_with_transformers), sd_hijack_open_clip.py, sd_emphasis.py (EmphasisOriginal), and
// sgm/modules/encoders/modules.py (FrozenCLIPEmbedder layer="hidden", FrozenOpenCLIPEmbedder2).
#pragma once
#include "model/clip_text.h"
#include "text/token_chunk.h"

#include <optional>
#include <span>

namespace sdpp {

struct TextEncoders {
    Family family = Family::Unknown;
    std::optional<ClipTextModel> te1;  // CLIP-L (SD1, SDXL) or OpenCLIP-H (SD2)
    std::optional<ClipTextModel> te2;  // OpenCLIP-bigG (SDXL, SDXL refiner)
    // Final blocks of te1's original tower that the store lacks. The loader drops SD 2.x's last
    // text block, which SD 2.x never runs (model/key_map.cpp, as diffusers does), so the default
    // for SD2 is 1; WeightStore::info["te1.dropped_blocks"] overrides it.
    int te1_dropped_blocks = 0;

    // Binds te1./te2. from the store; head counts and activations from the hints (ModelHints).
    // Matrices stay in the file's dtype.
    static TextEncoders load(const WeightStore& store, Family family, const ModelHints& hints);
};

struct ConditioningOptions {
    int clip_skip = 1;              // A1111 CLIP_stop_at_last_layers (1 = last layer); SD 1.x
    bool sdxl_clip_l_skip = false;  // A1111 sdxl_clip_l_skip: clip_skip also picks SDXL's CLIP-L layer
    bool emphasis = true;           // apply the chunks' weights (A1111 "Original"); false = ignore them
};

struct Conditioning {
    Tensor context;  // [1, 77 * chunks, C]: SD1 768, SD2 1024, SDXL 768 + 1280
    Tensor pooled;   // SDXL: [1, 1280] text_embeds of the first chunk; undefined otherwise
};

// chunks1 go to te1, chunks2 to te2 (SDXL: the same prompt padded the OpenCLIP way, same count;
// ignored without te2). At least one chunk.
Conditioning encode_chunks(Ctx& ctx, const TextEncoders& enc, std::span<const TokenChunk> chunks1,
                           std::span<const TokenChunk> chunks2, const ConditioningOptions& opt = {});

// A1111 EmphasisOriginal.after_transformers on one chunk: z [.., S, C] * weights[S], then scaled so
// the mean over all of z is what it was before.
Tensor apply_emphasis(Ctx& ctx, const Tensor& z, std::span<const float> weights);

// Pads the shorter context with copies of `empty` (the empty prompt's [1, 77, C] context), as A1111
// does before stacking cond and uncond.
void equalize_context_lengths(Ctx& ctx, Tensor& a, Tensor& b, const Tensor& empty);

}  // namespace sdpp
