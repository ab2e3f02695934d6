// Prompt conditioning from token chunks, mirroring stable-diffusion-webui
//   modules/sd_hijack_clip.py        forward (chunks, hstack, pooled of chunk 0), process_tokens,
//                                    FrozenCLIPEmbedderWithCustomWords.encode_with_transformers
//                                    (CLIP skip + final_layer_norm), ...ForSDXL (hidden_states[-2])
//   modules/sd_hijack_open_clip.py   OpenCLIP towers: encode_with_transformer (penultimate, ln_final
//                                    for SD 2.x; penultimate without it + pooled for SDXL)
//   modules/sd_emphasis.py           EmphasisOriginal
//   modules/sd_samplers_cfg_denoiser.py / prompt_parser.py pad_cond (empty-prompt padding)
#include "model/conditioning.h"
#include "core/assert.h"

#include "core/error.h"
#include "model/embedding_fixes.h"

#include <cstdlib>

namespace sdpp {

TextEncoders TextEncoders::load(const WeightStore& store, Family family, const ModelHints& hints) {
    TextEncoders e;
    e.family = family;
    const bool has1 = !store.names_with_prefix("te1.").empty(), has2 = !store.names_with_prefix("te2.").empty();
    if (family == Family::SDXL && !(has1 && has2))
        throw error("SDXL model without ", has1 ? "te2 (OpenCLIP-bigG)" : "te1 (CLIP-L)", " text encoder weights");
    if ((family == Family::SD1 || family == Family::SD2) && !has1)
        throw error(family_name(family), " model without text encoder weights (te1.*)");
    if (family == Family::SDXLRefiner && !has2) throw error("SDXL refiner without its OpenCLIP-bigG text encoder");
    if (has1 && family != Family::SDXLRefiner) {
        ClipTextConfig c = ClipTextConfig::detect(store, "te1.", hints.te1_heads, hints.te1_activation);
        e.te1 = ClipTextModel::load(WeightScope(store, "te1."), c);
    }
    if (has2 && (family == Family::SDXL || family == Family::SDXLRefiner)) {
        ClipTextConfig c = ClipTextConfig::detect(store, "te2.", hints.te2_heads,
                                                  hints.te2_activation ? hints.te2_activation : std::optional<std::string>("gelu"));
        if (c.projection_dim == 0) throw error("SDXL text encoder 2 has no text_projection (te2.text_projection.weight)");
        e.te2 = ClipTextModel::load(WeightScope(store, "te2."), c);
    }
    e.te1_dropped_blocks = family == Family::SD2 ? 1 : 0;
    if (auto it = store.info.find("te1.dropped_blocks"); it != store.info.end())
        e.te1_dropped_blocks = std::atoi(it->second.c_str());
    return e;
}

Tensor apply_emphasis(Ctx& ctx, const Tensor& z, std::span<const float> weights) {
    const int64_t S = z.dim(-2);
    SDPP_ASSERT(int64_t(weights.size()) == S, "emphasis: ", weights.size(), " weights for ", S, " tokens");
    bool all_one = true;
    for (float w : weights) all_one = all_one && w == 1.0f;
    if (all_one) return z;  // mean * (m / m): unchanged
    auto mean_of = [](const Tensor& t) {
        std::vector<float> v = t.to_vector();
        double s = 0;
        for (float x : v) s += x;
        return s / double(v.size());
    };
    const double before = mean_of(z);
    Tensor w = Tensor::from_vector(weights, {S, 1});
    Tensor scaled = mul(ctx, z, w);  // [.., S, C] * [S, 1]
    const double after = mean_of(scaled);
    return scale(ctx, scaled, float(before / after));
}

namespace {

// The per-chunk hidden states one encoder contributes, [n_chunks, 77, C], plus pooled output.
struct EncoderResult {
    Tensor z;
    Tensor text_embeds;  // [n_chunks, proj] (te2 only)
};

std::vector<int32_t> flat_ids(std::span<const TokenChunk> chunks) {
    std::vector<int32_t> ids;
    for (const TokenChunk& c : chunks) {
        SDPP_CHECK(c.ids.size() == chunks[0].ids.size() && c.weights.size() == c.ids.size(),
                   "prompt chunks must all have the same length with one weight per token");
        ids.insert(ids.end(), c.ids.begin(), c.ids.end());
    }
    return ids;
}

// Index into hidden_states (0 = embeddings, L = last block) the family's context is taken from,
// and whether the final LayerNorm is applied to it.
struct LayerChoice {
    int index;
    bool final_ln;
};

LayerChoice te1_layer(const TextEncoders& enc, const ConditioningOptions& opt) {
    const int L = int(enc.te1->config.n_layers);
    LayerChoice c{L, true};
    switch (enc.family) {
        case Family::SD2:  // ln_final(hidden_states[-2]) of the full tower
            c = {L + enc.te1_dropped_blocks - 1, true};
            break;
        case Family::SDXL: {
            int skip = opt.sdxl_clip_l_skip ? std::max(opt.clip_skip, 1) : 2;
            c = {L + 1 - skip, false};
            break;
        }
        default: {  // SD 1.x: A1111 CLIP_stop_at_last_layers
            int skip = std::max(opt.clip_skip, 1);
            c = {L + 1 - skip, true};
            break;
        }
    }
    if (c.index < 0 || c.index > L)
        throw error("CLIP skip ", opt.clip_skip, " is out of range for a text encoder with ", L, " stored layers");
    return c;
}

Tensor stack_chunks(Ctx& ctx, const Tensor& z, std::span<const TokenChunk> chunks, const ConditioningOptions& opt) {
    // z [n, 77, C] -> emphasis per chunk -> [1, 77 n, C]
    std::vector<Tensor> parts;
    for (size_t i = 0; i < chunks.size(); ++i) {
        Tensor zi = z.slice(0, int64_t(i), int64_t(i) + 1);  // [1, 77, C]
        parts.push_back(opt.emphasis ? apply_emphasis(ctx, zi, chunks[i].weights) : zi);
    }
    return parts.size() == 1 ? parts[0].contiguous() : concat(ctx, parts, 1);
}

// The encoder over the chunks' ids, with textual-inversion vectors in their slots when any.
ClipTextOutput encode_with_fixes(Ctx& ctx, const ClipTextModel& te, std::span<const int32_t> ids,
                                 std::span<const TokenChunk> chunks, int64_t n_chunks, int n_run) {
    if (!has_embedding_fixes(chunks)) return te.forward(ctx, ids, n_chunks, n_run);
    Tensor tok = te.embed_tokens(ids, n_chunks);  // [n, 77, W]
    apply_embedding_fixes(tok, chunks);
    return te.forward_embeds(ctx, tok, ids, n_chunks, n_run);
}

}  // namespace

Conditioning encode_chunks(Ctx& ctx, const TextEncoders& enc, std::span<const TokenChunk> chunks1,
                           std::span<const TokenChunk> chunks2, const ConditioningOptions& opt) {
    Conditioning out;
    std::vector<Tensor> contexts;  // per encoder, [1, 77 n, C_i]
    int64_t n_chunks = -1;
    if (enc.te1) {
        SDPP_ASSERT(!chunks1.empty(), "encode_chunks: no prompt chunks for the text encoder");
        n_chunks = int64_t(chunks1.size());
        LayerChoice lc = te1_layer(enc, opt);
        std::vector<int32_t> ids = flat_ids(chunks1);
        ClipTextOutput o = encode_with_fixes(ctx, *enc.te1, ids, chunks1, n_chunks, lc.index);
        Tensor z = lc.final_ln ? o.last_hidden_state : o.hidden_states.back();  // [n, 77, C]
        contexts.push_back(stack_chunks(ctx, z, chunks1, opt));
    }
    if (enc.te2) {
        SDPP_ASSERT(!chunks2.empty(), "encode_chunks: no prompt chunks for text encoder 2");
        if (n_chunks >= 0 && int64_t(chunks2.size()) != n_chunks)
            throw error("encode_chunks: ", chunks1.size(), " chunks for text encoder 1 but ", chunks2.size(),
                        " for text encoder 2");
        n_chunks = int64_t(chunks2.size());
        std::vector<int32_t> ids = flat_ids(chunks2);
        // All blocks run: the pooled output needs the last one; the context is the penultimate.
        ClipTextOutput o = encode_with_fixes(ctx, *enc.te2, ids, chunks2, n_chunks, -1);
        const auto& hs = o.hidden_states;
        Tensor z = hs[hs.size() - 2];
        contexts.push_back(stack_chunks(ctx, z, chunks2, opt));
        out.pooled = o.text_embeds.slice(0, 0, 1).contiguous();  // [1, proj] of the first chunk
    }
    SDPP_CHECK(!contexts.empty(), "encode_chunks: the model has no text encoder");
    out.context = contexts.size() == 1 ? contexts[0] : concat(ctx, contexts, 2);  // [1, 77 n, C1 + C2]
    return out;
}

void equalize_context_lengths(Ctx& ctx, Tensor& a, Tensor& b, const Tensor& empty) {
    SDPP_CHECK(a.ndim() == 3 && b.ndim() == 3 && empty.ndim() == 3 && empty.dim(1) > 0 &&
                   a.dim(2) == b.dim(2) && empty.dim(2) == a.dim(2),
               "equalize_context_lengths: contexts ", a.shape_str(), ", ", b.shape_str(), " and empty ",
               empty.shape_str(), " do not match");
    auto pad = [&](Tensor& t, int64_t target) {
        if (t.dim(1) >= target) return;
        SDPP_CHECK((target - t.dim(1)) % empty.dim(1) == 0, "equalize_context_lengths: lengths ", t.dim(1), " and ",
                   target, " differ by a non-multiple of ", empty.dim(1));
        std::vector<Tensor> parts{t};
        for (int64_t n = t.dim(1); n < target; n += empty.dim(1)) parts.push_back(empty.expand({t.dim(0), empty.dim(1), empty.dim(2)}));
        t = concat(ctx, parts, 1);
    };
    int64_t target = std::max(a.dim(1), b.dim(1));
    pad(a, target);
    pad(b, target);
}

}  // namespace sdpp
