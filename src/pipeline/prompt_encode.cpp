// Prompts -> U-Net conditioning, as A1111 builds it: each prompt is parsed (emphasis, BREAK) and cut
// into 77-token chunks per text encoder (CLIP-L pads with the end token, OpenCLIP towers with 0),
// the shorter of prompt / negative prompt gets empty chunks, and the encoders run once per prompt.
// SDXL adds the adm vector y = cat(pooled, time-id embeddings) (sgm GeneralConditioner;
// A1111 sd_models_xl.get_learned_conditioning): original size, crop and target size as (h, w)
// pairs; an empty negative prompt gets all-zero text embeddings (A1111 force_zero_negative_prompt).
// Mirrors modules/sd_hijack_clip.py and modules/sd_models_xl.py of stable-diffusion-webui.
#include "pipeline/pipeline.h"

#include "core/error.h"
#include "core/log.h"
#include "text/prompt_parser.h"
#include "text/prompt_schedule.h"

#include <algorithm>

namespace sdpp::pipeline {

namespace {

Tensor adm_vector(const Tensor& pooled, const std::vector<float>& ids, int64_t adm_in) {
    Tensor time_ids = Tensor::from_vector(ids, {1, int64_t(ids.size())});
    return sdxl_adm_vector(pooled, time_ids, adm_in);
}

// What A1111 accepts silently but users rarely mean: an edit that never switches, a '|' that
// turns every edit of the prompt into plain text.
void warn_about_schedule(const PromptTexts& t) {
    for (const std::string* p : {&t.prompt, &t.negative_prompt}) {
        const char* what = p == &t.prompt ? "prompt" : "negative prompt";
        if (p->find('[') != std::string::npos && !text::prompt_parses(*p))
            log_warn("the ", what, " has a '|' outside [a|b] (or a '\\' at its end): A1111's parser then keeps it "
                     "literally, edits included, and so does sdpp");
        for (const std::string& n : text::out_of_range_edits(*p, t.schedule))
            log_warn("the ", what, "'s edit at ", n, " is outside steps 1..", t.schedule.steps - 1, " of ",
                     t.schedule.steps, " denoiser calls: it never switches (as in A1111)");
    }
}

}  // namespace

PromptConditioning encode_prompts(Ctx& ctx, const TextSetup& setup, const GenerateRequest& r) {
    PromptTexts t;
    t.prompt = r.prompt;
    t.negative_prompt = r.negative_prompt;
    t.schedule.steps = std::max(1, r.steps);
    t.width = r.width;
    t.height = r.height;
    return encode_prompts(ctx, setup, r, t);
}

// Prompt editing / alternation / AND (src/text/prompt_schedule.h): every distinct scheduled text
// is tokenised and encoded once; the shorter ones get empty chunks so every context has one
// length (what A1111's pad_cond_uncond does between cond and uncond). SDXL's pooled vector (in y)
// follows the schedule with its text, as A1111's dict conditioning does.
PromptConditioning encode_prompts(Ctx& ctx, const TextSetup& setup, const GenerateRequest& r, const PromptTexts& t) {
    SDPP_CHECK(setup.model && setup.tokenizer, "encode_prompts: no model or tokenizer");
    const LoadedModel& m = *setup.model;
    const text::ClipTokenizer& tok = *setup.tokenizer;
    const Family fam = m.family;
    const bool xl = fam == Family::SDXL || fam == Family::SDXLRefiner;
    const bool skip_uncond = r.cfg_scale && *r.cfg_scale == 1.0f;

    // Schedules: the positive prompt split at AND (each part its own schedule), the negative whole.
    PromptConditioning out;
    struct Wanted {
        std::string text;
        bool negative;
    };
    std::vector<Wanted> wanted;
    auto entry_for = [&](const std::string& text, bool negative) {
        for (size_t i = 0; i < wanted.size(); ++i)
            if (wanted[i].text == text && wanted[i].negative == negative) return int(i);
        wanted.push_back({text, negative});
        return int(wanted.size()) - 1;
    };
    auto refs = [&](const text::PromptSchedule& s, bool negative) {
        std::vector<CondRef> v;
        for (const text::ScheduledText& e : s) v.push_back({e.end_at_step, entry_for(e.text, negative)});
        return v;
    };
    for (const text::SubPrompt& sp : text::split_subprompts(t.prompt))
        out.positive.push_back({float(sp.weight), refs(text::prompt_schedule(sp.text, t.schedule), false)});
    if (!skip_uncond) out.negative = refs(text::prompt_schedule(t.negative_prompt, t.schedule), true);
    if (t.schedule.hires_steps == 0 && !r.hires) warn_about_schedule(t);

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

    // Each distinct text tokenised once per encoder, all padded to the longest chunk count.
    std::vector<std::string> texts;
    std::vector<int> text_of(wanted.size());
    for (size_t i = 0; i < wanted.size(); ++i) {
        auto it = std::find(texts.begin(), texts.end(), wanted[i].text);
        text_of[i] = int(it - texts.begin());
        if (it == texts.end()) texts.push_back(wanted[i].text);
    }
    std::vector<text::PromptChunks> ch1(texts.size()), ch2(texts.size());
    size_t n_chunks = 1;
    for (size_t i = 0; i < texts.size(); ++i) {
        if (enc.te1) ch1[i] = text::tokenize_prompt(tok, texts[i], pad1, co1);
        if (enc.te2) ch2[i] = text::tokenize_prompt(tok, texts[i], pad2, co2);
        n_chunks = std::max({n_chunks, ch1[i].chunks.size(), ch2[i].chunks.size()});
    }
    text::PromptChunks longest1, longest2;
    longest1.chunks.resize(n_chunks, text::empty_chunk(tok, pad1));
    longest2.chunks.resize(n_chunks, text::empty_chunk(tok, pad2));
    for (size_t i = 0; i < texts.size(); ++i) {
        if (enc.te1) text::equalize_chunk_counts(ch1[i], longest1, tok, pad1, pad1);
        if (enc.te2) text::equalize_chunk_counts(ch2[i], longest2, tok, pad2, pad2);
    }
    for (const auto* em : {emb1 ? &*emb1 : nullptr, emb2 ? &*emb2 : nullptr})
        if (em) add_embeddings_used(out.embeddings_used, em->used());
    ConditioningOptions opt;
    opt.clip_skip = std::max(1, r.clip_skip);
    std::vector<Conditioning> encoded;
    for (size_t i = 0; i < texts.size(); ++i) encoded.push_back(encode_chunks(ctx, enc, ch1[i].chunks, ch2[i].chunks, opt));

    const bool adm = xl && setup.adm_in_channels > 0;
    const std::array<int, 2> orig = r.original_size.value_or(std::array<int, 2>{t.width, t.height});
    const std::array<int, 2> target = r.target_size.value_or(std::array<int, 2>{t.width, t.height});
    for (size_t i = 0; i < wanted.size(); ++i) {
        Conditioning c = encoded[size_t(text_of[i])];
        // A1111 force_zero_negative_prompt: an empty negative text encodes as zeros on SDXL.
        if (xl && wanted[i].negative && wanted[i].text.empty()) {
            c.context = Tensor::zeros(c.context.shape());
            if (c.pooled.defined()) c.pooled = Tensor::zeros(c.pooled.shape());
        }
        PromptConditioning::Entry e{c.context, Tensor()};
        if (adm) {
            SDPP_CHECK(c.pooled.defined(), "SDXL conditioning: the model has no pooled text embedding (text encoder 2)");
            const int64_t per_id = (setup.adm_in_channels - c.pooled.dim(1));
            // Base: 6 ids (orig h, w, crop top, left, target h, w); refiner: 5 (orig h, w, crop, aesthetic score).
            const bool refiner = per_id > 0 && per_id % 5 == 0 && per_id % 6 != 0;
            std::vector<float> ids = {float(orig[1]), float(orig[0]), float(r.crop_coords[0]), float(r.crop_coords[1])};
            if (refiner) {
                ids.push_back(wanted[i].negative ? 2.5f : 6.0f);  // A1111 sdxl_refiner_low/high_aesthetic_score
            } else {
                ids.push_back(float(target[1]));
                ids.push_back(float(target[0]));
            }
            e.y = adm_vector(c.pooled, ids, setup.adm_in_channels);
        }
        out.entries.push_back(std::move(e));
    }
    // The first entries as the plain cond / uncond (a prompt without edits or AND has only these).
    const PromptConditioning::Entry& c0 = out.entries[size_t(out.positive[0].schedule[0].index)];
    out.cond = c0.context;
    out.cond_y = c0.y;
    if (!skip_uncond) {
        const PromptConditioning::Entry& u0 = out.entries[size_t(out.negative[0].index)];
        out.uncond = u0.context;
        out.uncond_y = u0.y;
    }
    return out;  // `enc` (the text encoders' converted weights) is released here
}

}  // namespace sdpp::pipeline
