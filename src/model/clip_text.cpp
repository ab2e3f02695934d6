// CLIP text transformer, mirroring transformers models/clip/modeling_clip.py (CLIPTextEmbeddings,
// CLIPAttention, CLIPMLP, CLIPEncoderLayer, CLIPTextTransformer.forward with the causal mask and
// the argmax(input_ids) pooling, CLIPTextModelWithProjection.text_projection) and open_clip v2.24
// TextTransformer / CLIP.encode_text, which compute the same function.
#include "model/clip_text.h"

#include "core/error.h"

#include <algorithm>

namespace sdpp {

ClipTextConfig ClipTextConfig::detect(const WeightStore& store, const std::string& prefix, std::optional<int> heads,
                                      std::optional<std::string> activation) {
    ClipTextConfig c;
    auto shape = [&](const std::string& name) {
        auto s = store.peek_shape(prefix + name);
        if (!s) throw error("text encoder: missing tensor '", prefix, name, "'");
        return *s;
    };
    Shape tok = shape("text_model.embeddings.token_embedding.weight");
    Shape pos = shape("text_model.embeddings.position_embedding.weight");
    if (tok.size() != 2 || pos.size() != 2 || pos[1] != tok[1])
        throw error("text encoder '", prefix, "': token embedding ", to_string(tok), " and position embedding ",
                    to_string(pos), " do not fit together");
    c.vocab_size = tok[0];
    c.width = tok[1];
    c.n_positions = pos[0];
    while (store.peek_shape(prefix + "text_model.encoder.layers." + std::to_string(c.n_layers) + ".layer_norm1.weight"))
        ++c.n_layers;
    if (c.n_layers == 0) throw error("text encoder '", prefix, "': no text_model.encoder.layers.0.* tensors");
    Shape fc1 = shape("text_model.encoder.layers.0.mlp.fc1.weight");
    if (fc1.size() != 2) throw error("text encoder '", prefix, "': mlp.fc1.weight has shape ", to_string(fc1));
    c.intermediate = fc1[0];
    if (auto p = store.peek_shape(prefix + "text_projection.weight")) {
        if (p->size() != 2 || (*p)[1] != c.width)
            throw error("text encoder '", prefix, "': text_projection.weight ", to_string(*p), " does not take width ",
                        c.width);
        c.projection_dim = (*p)[0];
    }
    c.n_heads = heads ? *heads : int(c.width / 64);
    if (c.n_heads <= 0 || c.width % c.n_heads != 0)
        throw error("text encoder '", prefix, "': cannot split width ", c.width, " into ", c.n_heads,
                    " attention heads (give the head count: yaml, config.json or metadata)");
    if (activation && *activation != "quick_gelu" && *activation != "gelu")
        throw error("text encoder '", prefix, "': unsupported activation '", *activation, "'");
    c.quick_gelu = !activation || *activation == "quick_gelu";
    return c;
}

ClipTextLayer ClipTextLayer::load(const WeightScope& w, const ClipTextConfig& c) {
    ClipTextLayer l;
    l.layer_norm1 = LayerNorm::load(w.sub("layer_norm1"), c.eps);
    WeightScope a = w.sub("self_attn");
    l.q_proj = Linear::load(a.sub("q_proj"), c.width, c.width);
    l.k_proj = Linear::load(a.sub("k_proj"), c.width, c.width);
    l.v_proj = Linear::load(a.sub("v_proj"), c.width, c.width);
    l.out_proj = Linear::load(a.sub("out_proj"), c.width, c.width);
    l.layer_norm2 = LayerNorm::load(w.sub("layer_norm2"), c.eps);
    l.fc1 = Linear::load(w.sub("mlp").sub("fc1"), c.width, c.intermediate);
    l.fc2 = Linear::load(w.sub("mlp").sub("fc2"), c.intermediate, c.width);
    return l;
}

Tensor ClipTextLayer::forward(Ctx& ctx, const Tensor& x, const ClipTextConfig& c) const {
    Tensor h = layer_norm1(ctx, x);
    // Causal self-attention: token i sees tokens 0..i. Scale head_dim^-0.5 (the op's default).
    Tensor a = attention(ctx, q_proj(ctx, h), k_proj(ctx, h), v_proj(ctx, h), c.n_heads, /*causal=*/true);
    Tensor r = add(ctx, x, out_proj(ctx, a));  // [B, S, W]
    h = fc1(ctx, layer_norm2(ctx, r));         // [B, S, intermediate]
    h = c.quick_gelu ? quick_gelu(ctx, h) : gelu(ctx, h);
    return add(ctx, r, fc2(ctx, h));           // [B, S, W]
}

ClipTextModel ClipTextModel::load(const WeightScope& w, const ClipTextConfig& c) {
    ClipTextModel m;
    m.config = c;
    WeightScope tm = w.sub("text_model");
    WeightScope emb = tm.sub("embeddings");
    // The token table stays as stored (often an f16 mmap view; 250 MB as f32 for bigG): rows are
    // converted when gathered.
    m.token_embedding = w.store().raw(emb.key("token_embedding.weight"));
    if (m.token_embedding.shape() != Shape{c.vocab_size, c.width} || !is_float(m.token_embedding.dtype()))
        throw error("'", emb.key("token_embedding.weight"), "' has shape ", m.token_embedding.shape_str(), " ",
                    dtype_name(m.token_embedding.dtype()), ", expected float [", c.vocab_size, ",", c.width, "]");
    m.position_embedding = emb.get("position_embedding.weight", {c.n_positions, c.width});
    if (emb.has("position_ids")) w.store().raw(emb.key("position_ids"));  // HF buffer, implied by the positions
    WeightScope layers = tm.sub("encoder").sub("layers");
    for (int64_t i = 0; i < c.n_layers; ++i) m.layers.push_back(ClipTextLayer::load(layers.sub(int(i)), c));
    m.final_layer_norm = LayerNorm::load(tm.sub("final_layer_norm"), c.eps);
    if (c.projection_dim > 0)
        m.text_projection = Linear::load(w.sub("text_projection"), c.width, c.projection_dim, /*bias=*/false);
    return m;
}

ClipTextOutput ClipTextModel::forward(Ctx& ctx, std::span<const int32_t> ids, int64_t batch, int n_run) const {
    return forward_embeds(ctx, embed_tokens(ids, batch), ids, batch, n_run);
}

Tensor ClipTextModel::embed_tokens(std::span<const int32_t> ids, int64_t batch) const {
    const ClipTextConfig& c = config;
    SDPP_CHECK(batch > 0 && !ids.empty() && ids.size() % size_t(batch) == 0, "text encoder: ", ids.size(),
               " token ids do not form ", batch, " rows");
    const int64_t seq = int64_t(ids.size()) / batch;
    if (seq > c.n_positions)
        throw error("text encoder: ", seq, " tokens per row, but the model has ", c.n_positions, " positions");
    // Token rows gathered (and converted to f32).
    Tensor tok = Tensor::empty({batch, seq, c.width});
    for (int64_t b = 0; b < batch; ++b)
        for (int64_t s = 0; s < seq; ++s) {
            int32_t id = ids[size_t(b * seq + s)];
            if (id < 0 || id >= c.vocab_size)
                throw error("text encoder: token id ", id, " outside the vocabulary of ", c.vocab_size);
            tok.select(0, b).select(0, s).copy_from(token_embedding.select(0, id));
        }
    return tok;
}

ClipTextOutput ClipTextModel::forward_embeds(Ctx& ctx, const Tensor& tok, std::span<const int32_t> ids, int64_t batch,
                                             int n_run) const {
    const ClipTextConfig& c = config;
    SDPP_CHECK(batch > 0 && !ids.empty() && ids.size() % size_t(batch) == 0, "text encoder: ", ids.size(),
               " token ids do not form ", batch, " rows");
    const int64_t seq = int64_t(ids.size()) / batch;
    SDPP_CHECK((tok.shape() == Shape{batch, seq, c.width}), "text encoder: inputs_embeds ", tok.shape_str(),
               " do not match ", batch, " rows of ", seq, " tokens of width ", c.width);
    if (seq > c.n_positions)
        throw error("text encoder: ", seq, " tokens per row, but the model has ", c.n_positions, " positions");
    if (n_run < 0 || n_run > int(c.n_layers)) n_run = int(c.n_layers);

    // Embeddings: the token rows plus the first `seq` positions.
    ClipTextOutput out;
    Tensor x = add(ctx, tok, position_embedding.slice(0, 0, seq));  // [B, S, W]
    out.hidden_states.push_back(x);
    for (int i = 0; i < n_run; ++i) {
        x = layers[size_t(i)].forward(ctx, x, c);
        out.hidden_states.push_back(x);
    }
    out.last_hidden_state = final_layer_norm(ctx, x);

    // Pooled: the row's first maximal id (the end-of-text token, torch.argmax semantics).
    out.pooled = Tensor::empty({batch, c.width});
    for (int64_t b = 0; b < batch; ++b) {
        auto row = ids.subspan(size_t(b * seq), size_t(seq));
        int64_t eot = std::max_element(row.begin(), row.end()) - row.begin();
        out.pooled.select(0, b).copy_from(out.last_hidden_state.select(0, b).select(0, eot));
    }
    if (text_projection) out.text_embeds = (*text_projection)(ctx, out.pooled);  // [B, proj]
    return out;
}

}  // namespace sdpp
