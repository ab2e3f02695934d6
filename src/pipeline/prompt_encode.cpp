// Prompts -> U-Net conditioning, as A1111 builds it: each prompt is parsed (emphasis, BREAK) and cut
// into 77-token chunks per text encoder (CLIP-L pads with the end token, OpenCLIP towers with 0),
// the shorter of prompt / negative prompt gets empty chunks, and the encoders run once per prompt.
// SDXL adds the adm vector y = cat(pooled, time-id embeddings) (sgm GeneralConditioner;
// A1111 sd_models_xl.get_learned_conditioning): original size, crop and target size as (h, w)
// pairs; an empty negative prompt gets all-zero text embeddings (A1111 force_zero_negative_prompt).
// Mirrors modules/sd_hijack_clip.py and modules/sd_models_xl.py of stable-diffusion-webui.
#include "pipeline/pipeline.h"

#include "core/error.h"
#include "text/prompt_parser.h"

#include <algorithm>

namespace sdpp::pipeline {

namespace {

Tensor adm_vector(const Tensor& pooled, const std::vector<float>& ids, int64_t adm_in) {
    Tensor time_ids = Tensor::from_vector(ids, {1, int64_t(ids.size())});
    return sdxl_adm_vector(pooled, time_ids, adm_in);
}

}  // namespace

PromptConditioning encode_prompts(Ctx& ctx, const TextSetup& setup, const GenerateRequest& r) {
    SDPP_CHECK(setup.model && setup.tokenizer, "encode_prompts: no model or tokenizer");
    const LoadedModel& m = *setup.model;
    const text::ClipTokenizer& tok = *setup.tokenizer;
    const Family fam = m.family;
    const bool xl = fam == Family::SDXL || fam == Family::SDXLRefiner;

    TextEncoders enc = TextEncoders::load(m.weights(), fam, m.hints);
    // Pad ids: CLIP-L (HF tokenizer) pads with the end token, OpenCLIP towers with 0.
    const int32_t pad1 = fam == Family::SD2 ? 0 : tok.eot_id();
    const int32_t pad2 = 0;

    // Textual-inversion embeddings: names matched on token ids, per encoder (text/embeddings.h).
    const text::TextEncoderWidths widths{enc.te1 ? enc.te1->config.width : 0, enc.te2 ? enc.te2->config.width : 0};
    std::optional<text::EmbeddingMatcher> emb1, emb2;
    if (setup.embeddings && setup.embeddings->size() > 0) {
        emb1.emplace(*setup.embeddings, widths, 1);
        emb2.emplace(*setup.embeddings, widths, 2);
    }
    text::ChunkOptions co1, co2;
    co1.embeddings = emb1 ? &*emb1 : nullptr;
    co2.embeddings = emb2 ? &*emb2 : nullptr;

    text::PromptChunks pos1, neg1, pos2, neg2;
    if (enc.te1) {
        pos1 = text::tokenize_prompt(tok, r.prompt, pad1, co1);
        neg1 = text::tokenize_prompt(tok, r.negative_prompt, pad1, co1);
        text::equalize_chunk_counts(pos1, neg1, tok, pad1, pad1);
    }
    if (enc.te2) {
        pos2 = text::tokenize_prompt(tok, r.prompt, pad2, co2);
        neg2 = text::tokenize_prompt(tok, r.negative_prompt, pad2, co2);
        text::equalize_chunk_counts(pos2, neg2, tok, pad2, pad2);
    }
    ConditioningOptions opt;
    opt.clip_skip = std::max(1, r.clip_skip);

    PromptConditioning out;
    for (const auto* m : {emb1 ? &*emb1 : nullptr, emb2 ? &*emb2 : nullptr})
        for (const text::UsedEmbedding& u : m ? m->used() : std::vector<text::UsedEmbedding>{})
            if (std::none_of(out.embeddings_used.begin(), out.embeddings_used.end(),
                             [&](const text::UsedEmbedding& o) { return o.path == u.path; }))
                out.embeddings_used.push_back(u);
    Conditioning c = encode_chunks(ctx, enc, pos1.chunks, pos2.chunks, opt);
    out.cond = c.context;
    Conditioning u;
    const bool skip_uncond = r.cfg_scale && *r.cfg_scale == 1.0f;
    if (!skip_uncond) {
        u = encode_chunks(ctx, enc, neg1.chunks, neg2.chunks, opt);
        if (xl && r.negative_prompt.empty()) {
            u.context = Tensor::zeros(u.context.shape());
            if (u.pooled) u.pooled = Tensor::zeros(u.pooled.shape());
        }
        out.uncond = u.context;
    }

    if (xl && setup.adm_in_channels > 0) {
        SDPP_CHECK(c.pooled.defined(), "SDXL conditioning: the model has no pooled text embedding (text encoder 2)");
        const std::array<int, 2> orig = r.original_size.value_or(std::array<int, 2>{r.width, r.height});
        const std::array<int, 2> target = r.target_size.value_or(std::array<int, 2>{r.width, r.height});
        const int64_t pooled_w = c.pooled.dim(1);
        const int64_t per_id = (setup.adm_in_channels - pooled_w);
        // Base: 6 ids (orig h, w, crop top, left, target h, w); refiner: 5 (orig h, w, crop, aesthetic score).
        const bool refiner = per_id > 0 && per_id % 5 == 0 && per_id % 6 != 0;
        auto ids_for = [&](bool negative) {
            std::vector<float> ids = {float(orig[1]), float(orig[0]), float(r.crop_coords[0]), float(r.crop_coords[1])};
            if (refiner) {
                ids.push_back(negative ? 2.5f : 6.0f);  // A1111 sdxl_refiner_low/high_aesthetic_score
            } else {
                ids.push_back(float(target[1]));
                ids.push_back(float(target[0]));
            }
            return ids;
        };
        out.cond_y = adm_vector(c.pooled, ids_for(false), setup.adm_in_channels);
        if (!skip_uncond) out.uncond_y = adm_vector(u.pooled, ids_for(true), setup.adm_in_channels);
    }
    return out;  // `enc` (the text encoders' converted weights) is released here
}

}  // namespace sdpp::pipeline
