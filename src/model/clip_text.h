// CLIP text transformer in HF CLIPTextModel naming (transformers models/clip/modeling_clip.py:
// CLIPTextTransformer, CLIPEncoderLayer, CLIPTextModelWithProjection), which is also open_clip's
// TextTransformer after key renaming (open_clip v2.24 transformer.py): token + position embeddings,
// pre-LayerNorm blocks with causal self-attention and a quick_gelu (CLIP-L) or gelu (OpenCLIP)
// MLP, final LayerNorm, pooled output at the end-of-text token, optional text projection.
// Bound under the internal prefixes te1. / te2. (model/weights.h).
#pragma once
#include "model/layers.h"
#include "model/model_info.h"

#include <optional>
#include <span>
#include <string>
#include <vector>

namespace sdpp {

// Mirrors HF CLIPTextConfig (hidden_size, num_hidden_layers, vocab_size, max_position_embeddings,
// intermediate_size, num_attention_heads, hidden_act, projection_dim, layer_norm_eps).
struct ClipTextConfig {
    int64_t width = 0;          // hidden_size (from token_embedding [vocab, width])
    int64_t n_layers = 0;       // num_hidden_layers (count of encoder.layers.N)
    int64_t vocab_size = 0;     // vocab_size
    int64_t n_positions = 0;    // max_position_embeddings (position_embedding [positions, width])
    int64_t intermediate = 0;   // intermediate_size (mlp.fc1 [intermediate, width])
    int64_t projection_dim = 0; // text_projection.weight [proj, width]; 0 = no projection
    int n_heads = 0;            // num_attention_heads: shapes cannot tell; hint or width / 64
    bool quick_gelu = true;     // hidden_act: "quick_gelu" (CLIP-L) or "gelu" (OpenCLIP)
    float eps = 1e-5f;          // layer_norm_eps

    // Sizes from the tensors under `prefix` ("te1." / "te2."), heads and activation from the hints
    // (defaults: width / 64 heads; quick_gelu unless told "gelu"). Errors name the missing key.
    static ClipTextConfig detect(const WeightStore& store, const std::string& prefix, std::optional<int> heads,
                                 std::optional<std::string> activation);
};

// transformers CLIPEncoderLayer: x + attn(ln1(x)); x + mlp(ln2(x))
struct ClipTextLayer {
    LayerNorm layer_norm1;  // layer_norm1
    Linear q_proj;          // self_attn.q_proj
    Linear k_proj;          // self_attn.k_proj
    Linear v_proj;          // self_attn.v_proj
    Linear out_proj;        // self_attn.out_proj
    LayerNorm layer_norm2;  // layer_norm2
    Linear fc1;             // mlp.fc1
    Linear fc2;             // mlp.fc2

    static ClipTextLayer load(const WeightScope& w, const ClipTextConfig& cfg);
    Tensor forward(Ctx& ctx, const Tensor& x, const ClipTextConfig& cfg) const;  // [B, S, W]
};

struct ClipTextOutput {
    // hidden_states[0] = embeddings, [i] = output of block i (before the final LayerNorm), for the
    // blocks that ran; each [B, S, W].
    std::vector<Tensor> hidden_states;
    Tensor last_hidden_state;  // final_layer_norm(hidden_states.back()), [B, S, W]
    Tensor pooled;             // last_hidden_state at the first argmax(ids) of each row, [B, W]
    Tensor text_embeds;        // pooled @ text_projection^T, [B, proj] (undefined without projection)
};

struct ClipTextModel {
    ClipTextConfig config;
    Tensor token_embedding;     // text_model.embeddings.token_embedding.weight [vocab, W] (f32)
    Tensor position_embedding;  // text_model.embeddings.position_embedding.weight [positions, W] (f32)
    std::vector<ClipTextLayer> layers;  // text_model.encoder.layers.N
    LayerNorm final_layer_norm;         // text_model.final_layer_norm
    std::optional<Linear> text_projection;  // text_projection (no bias)

    // `w` is the encoder's scope ("te1." / "te2."); its matrix dtype sets the weights' compute form.
    static ClipTextModel load(const WeightScope& w, const ClipTextConfig& cfg);

    // ids: `batch` rows of S token ids (S <= n_positions), row-major. `n_run` blocks are run
    // (-1 = all; fewer when only an earlier hidden state is needed). Ids outside the vocabulary
    // are an sdpp::Error.
    ClipTextOutput forward(Ctx& ctx, std::span<const int32_t> ids, int64_t batch, int n_run = -1) const;

    // The two halves of forward, for callers that change the token embeddings in between
    // (textual-inversion embeddings, model/embedding_fixes.h):
    // token_embedding rows of `ids`, [batch, S, W] f32 (HF inputs_embeds)
    Tensor embed_tokens(std::span<const int32_t> ids, int64_t batch) const;
    // forward from inputs_embeds [batch, S, W]; `ids` still pick the pooled (end-token) position.
    ClipTextOutput forward_embeds(Ctx& ctx, const Tensor& inputs_embeds, std::span<const int32_t> ids, int64_t batch,
                                  int n_run = -1) const;
};

}  // namespace sdpp
