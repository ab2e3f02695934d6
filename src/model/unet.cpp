// The SD U-Net: architecture detection from shapes, binding, forward.
// Mirrors ldm/sgm openaimodel.UNetModel (input_blocks / middle_block / output_blocks, label_emb) and
// ldm.modules.diffusionmodules.util.timestep_embedding; see unet.h.
#include "model/unet.h"
#include "core/assert.h"

#include "core/error.h"
#include "model/unet_plan.h"

#include <algorithm>
#include <array>
#include <cmath>
#include <sstream>

namespace sdpp {

namespace {

const char* kPrefix = "model.diffusion_model.";

std::string idx(const std::string& base, int i) { return base + "." + std::to_string(i); }

// Number of transformer_blocks.N under a SpatialTransformer scope (0 when the scope is no transformer).
int count_transformer_blocks(const WeightScope& w) {
    int n = 0;
    while (w.shape_of(idx("transformer_blocks", n) + ".norm1.weight")) ++n;
    return n;
}

bool is_transformer(const WeightScope& w) { return w.shape_of("norm.weight") && w.shape_of("proj_in.weight"); }

}  // namespace

// ---- detection -----------------------------------------------------------------------------------

std::string UNetConfig::describe() const {
    std::ostringstream os;
    os << "U-Net in " << in_channels << " out " << out_channels << ", channels [";
    for (int i = 0; i < levels(); ++i) os << (i ? "," : "") << level_channels[i];
    os << "], res blocks [";
    for (int i = 0; i < levels(); ++i) os << (i ? "," : "") << num_res_blocks[i];
    os << "], transformer depth [";
    for (int i = 0; i < levels(); ++i) os << (i ? "," : "") << transformer_depth[i];
    os << "] mid " << transformer_depth_middle << ", heads [";
    for (int i = 0; i < levels(); ++i) os << (i ? "," : "") << heads[i];
    os << "] mid " << heads_middle << ", context " << context_dim << (linear_projection ? ", linear" : ", conv")
       << " projections, time embedding " << time_embed_dim;
    if (adm_in_channels) os << ", adm " << adm_in_channels;
    return os.str();
}

namespace {

// need_shape for the U-Net, relative to model.diffusion_model.: a key detection cannot do without.
Shape need(const WeightScope& w, const std::string& k, size_t ndim) { return w.need_shape(k, ndim, "U-Net"); }

// The first transformer sets the context width and the projection kind (linear in SD 2.x and SDXL,
// 1x1 conv in SD 1.x); every later one must agree, as the U-Net has one cross-attention context.
void note_attention(const WeightScope& w, const WeightScope& t, UNetConfig& c, bool& first_attn) {
    Shape pin = *t.shape_of("proj_in.weight");
    Shape k = need(w, t.prefix().substr(w.prefix().size()) + "transformer_blocks.0.attn2.to_k.weight", 2);
    if (first_attn) {
        c.linear_projection = pin.size() == 2;
        c.context_dim = k[1];
        first_attn = false;
    } else if (c.context_dim != k[1] || c.linear_projection != (pin.size() == 2)) {
        throw error("U-Net transformer '", t.prefix(), "' differs from the first one (context ", k[1],
                    " vs ", c.context_dim, ")");
    }
}

// Starts a level with nothing seen yet (-1: width and attention depth still unknown).
void open_level(UNetConfig& c) {
    c.level_channels.push_back(-1);
    c.num_res_blocks.push_back(0);
    c.transformer_depth.push_back(-1);
}

// Counts input block `b` (a ResBlock of `ch` channels, maybe followed by a SpatialTransformer) into
// the current level; all blocks of a level share its width and either all have attention or none.
void add_res_block(const WeightScope& w, const WeightScope& b, int64_t ch, UNetConfig& c, bool& first_attn) {
    if (c.level_channels.back() < 0) c.level_channels.back() = ch;
    else if (c.level_channels.back() != ch)
        throw error("U-Net: ResBlock '", b.prefix(), "0' has ", ch, " channels, its level has ",
                    c.level_channels.back());
    c.num_res_blocks.back()++;
    WeightScope t = b.sub(1);
    const int depth = is_transformer(t) ? count_transformer_blocks(t) : 0;
    if (is_transformer(t) && depth == 0) throw error("U-Net: transformer '", t.prefix(), "' has no transformer_blocks");
    if (depth) note_attention(w, t, c, first_attn);
    if (c.transformer_depth.back() < 0) c.transformer_depth.back() = depth;
    else if ((c.transformer_depth.back() > 0) != (depth > 0))
        throw error("U-Net: level ", c.levels() - 1, " mixes blocks with and without attention at '", b.prefix(), "'");
}

// input_blocks.1.. : per level, ResBlocks (each optionally followed by a SpatialTransformer), then a
// Downsample (input_blocks.K.0.op) except after the last level.
void detect_input_blocks(const WeightScope& w, UNetConfig& c, bool& first_attn) {
    open_level(c);
    for (int k = 1;; ++k) {
        WeightScope b = w.sub("input_blocks").sub(k);
        if (b.shape_of("0.op.weight")) {
            if (c.num_res_blocks.back() == 0) throw error("U-Net: '", b.prefix(), "0.op' downsamples an empty level");
            open_level(c);
            continue;
        }
        auto rs = b.shape_of("0.in_layers.2.weight");
        if (!rs) break;
        add_res_block(w, b, (*rs)[0], c, first_attn);
    }
    if (c.num_res_blocks.back() == 0) throw error("not an SD U-Net: no ResBlocks under '", w.key("input_blocks"), "'");
}

// middle_block: ResBlock, SpatialTransformer, ResBlock (or two ResBlocks).
void detect_middle_block(const WeightScope& w, UNetConfig& c, bool& first_attn) {
    need(w, "middle_block.0.in_layers.2.weight", 4);
    WeightScope mid = w.sub("middle_block").sub(1);
    if (is_transformer(mid)) {
        c.transformer_depth_middle = count_transformer_blocks(mid);
        note_attention(w, mid, c, first_attn);
        need(w, "middle_block.2.in_layers.2.weight", 4);
    } else {
        c.transformer_depth_middle = 0;
        need(w, "middle_block.1.in_layers.2.weight", 4);
    }
}

// output_blocks: nres + 1 per level, no more and no fewer.
void check_output_blocks(const WeightScope& w, const UNetConfig& c) {
    int n_out = 0;
    for (int n : c.num_res_blocks) n_out += n + 1;
    need(w, idx("output_blocks", n_out - 1) + ".0.in_layers.2.weight", 4);
    if (w.has_scope(idx("output_blocks", n_out)))
        throw error("U-Net: unexpected block '", w.key(idx("output_blocks", n_out)), "' (expected ", n_out, " output blocks)");
}

// Attention heads of a level `width` channels wide. Shapes cannot tell them: they come from the
// hints, else 8 heads for SD 1.x-style U-Nets and 64 channels per head for the others.
int heads_for(const ModelHints& hints, const UNetConfig& c, int64_t width, int level) {
    const bool sd1_style = !c.linear_projection && c.context_dim != 1024 && c.context_dim != 2048;
    int h = 0;
    if (hints.unet_heads_per_level && !hints.unet_heads_per_level->empty()) {
        auto& v = *hints.unet_heads_per_level;
        h = v.size() == 1 ? v[0] : level < int(v.size()) ? v[size_t(level)] : 0;
        if (h <= 0) throw error("U-Net: no attention head count given for level ", level, " (", v.size(), " given)");
    } else {
        const int64_t hc = hints.unet_head_channels ? *hints.unet_head_channels : sd1_style ? 0 : 64;
        if (hc <= 0 && sd1_style) return 8;
        if (hc <= 0 || width % hc != 0)
            throw error("U-Net: ", width, " channels do not split into heads of ", hc,
                        " channels (set the head count: yaml num_heads / num_head_channels)");
        h = int(width / hc);
    }
    if (width % h != 0) throw error("U-Net: ", width, " channels do not split into ", h, " heads");
    return h;
}

// Heads for every level with attention (0 for the others) and for the middle block, which takes
// the last per-level count given, else the deepest level's.
void assign_heads(const ModelHints& hints, UNetConfig& c) {
    c.heads.assign(size_t(c.levels()), 0);
    for (int l = 0; l < c.levels(); ++l)
        if (c.transformer_depth[size_t(l)] > 0)
            c.heads[size_t(l)] = heads_for(hints, c, c.level_channels[size_t(l)], l);
    if (c.transformer_depth_middle > 0) {
        const int last = hints.unet_heads_per_level && hints.unet_heads_per_level->size() > 1
                             ? int(hints.unet_heads_per_level->size()) - 1 : c.levels() - 1;
        c.heads_middle = heads_for(hints, c, c.level_channels.back(), last);
    } else {
        c.heads_middle = 0;
    }
}

}  // namespace

UNetConfig UNetConfig::detect(const WeightStore& store, const ModelHints& hints) {
    WeightScope w(store, kPrefix);
    UNetConfig c;
    Shape conv_in = need(w, "input_blocks.0.0.weight", 4);      // [mc, in, 3, 3]
    c.model_channels = conv_in[0];
    c.in_channels = conv_in[1];
    c.out_channels = need(w, "out.2.weight", 4)[0];
    c.time_embed_dim = need(w, "time_embed.0.weight", 2)[0];    // [E, mc]; the loader checks mc
    if (auto adm = w.shape_of("label_emb.0.0.weight")) c.adm_in_channels = (*adm).at(1);

    c.context_dim = 0;
    bool first_attn = true;  // no transformer seen yet: the first one sets context_dim and linear_projection
    detect_input_blocks(w, c, first_attn);
    detect_middle_block(w, c, first_attn);
    check_output_blocks(w, c);
    assign_heads(hints, c);
    return c;
}

// ---- binding -----------------------------------------------------------------------------------

namespace {

// The SpatialTransformer at `t` when the plan has one there; its depth is read from the keys (SGM
// lets an output level's depth differ from the input side's), its presence must match the plan's.
std::optional<SpatialTransformer> transformer_at(const WeightScope& t, const UNetBlockPlan& p) {
    const bool expected = p.transformer_depth > 0;
    const int depth = is_transformer(t) ? count_transformer_blocks(t) : 0;
    if ((depth > 0) != expected)
        throw error("U-Net: '", t.prefix(), "' ", expected ? "lacks" : "has", " a transformer, the config says ",
                    expected ? "it has one" : "none");
    if (!depth) return std::nullopt;
    return SpatialTransformer::load(t, depth, p.heads);
}

UNetBlock load_block(const WeightScope& b, const UNetBlockPlan& p, int64_t emb) {
    UNetBlock blk;
    if (p.down) {
        blk.down = Conv2d::load(b.sub("0.op"), {p.out_channels, p.in_channels, 3, 3}, /*stride=*/2, /*padding=*/1);
        return blk;
    }
    blk.res = ResBlock::load(b.sub(0), p.in_channels, p.out_channels, emb);
    blk.attn = transformer_at(b.sub(1), p);
    if (p.up) blk.up = Conv2d::load(b.sub(p.tail_index()).sub("conv"), {p.out_channels, p.out_channels, 3, 3});
    return blk;
}

}  // namespace

UNet UNet::load(const WeightStore& store, const UNetConfig& cfg) {
    WeightScope w(store, kPrefix);
    const int64_t e = cfg.time_embed_dim;
    const UNetPlan plan = plan_unet(cfg);
    UNet u;
    u.cfg = cfg;
    u.time_embed_0 = Linear::load(w.sub("time_embed.0"), cfg.model_channels, e);
    u.time_embed_2 = Linear::load(w.sub("time_embed.2"), e, e);
    if (cfg.adm_in_channels > 0) {
        u.label_emb_0 = Linear::load(w.sub("label_emb.0.0"), cfg.adm_in_channels, e);
        u.label_emb_2 = Linear::load(w.sub("label_emb.0.2"), e, e);
    }
    u.conv_in = Conv2d::load(w.sub("input_blocks.0.0"), {cfg.model_channels, cfg.in_channels, 3, 3});
    for (const UNetBlockPlan& p : plan.input_blocks) u.input_blocks.push_back(load_block(w.sub(p.key), p, e));

    const UNetBlockPlan& m = plan.middle;
    WeightScope mid = w.sub(m.key);
    u.mid_res1 = ResBlock::load(mid.sub(0), m.in_channels, m.out_channels, e);
    u.mid_attn = transformer_at(mid.sub(1), m);
    u.mid_res2 = ResBlock::load(mid.sub(m.tail_index()), m.out_channels, m.out_channels, e);

    for (const UNetBlockPlan& p : plan.output_blocks) u.output_blocks.push_back(load_block(w.sub(p.key), p, e));
    u.out_norm = GroupNorm::load(w.sub("out.0"), 32, 1e-5f, cfg.model_channels);
    u.out_conv = Conv2d::load(w.sub("out.2"), {cfg.out_channels, cfg.model_channels, 3, 3});
    return u;
}

// ---- forward -----------------------------------------------------------------------------------

Tensor UNet::forward(Ctx& ctx, const Tensor& x, const Tensor& t, const Tensor& context, const Tensor& y,
                     const ActivationTrace* trace) const {
    SDPP_CHECK(x.defined() && x.ndim() == 4 && x.dim(1) == cfg.in_channels, "[unet] input ",
               x.defined() ? x.shape_str() : "(none)", " must be [N,", cfg.in_channels, ",H,W]");
    const int64_t n = x.dim(0);
    SDPP_CHECK(t.defined() && (t.numel() == n || t.numel() == 1), "[unet] timesteps ",
               t.defined() ? t.shape_str() : "(none)", " must hold 1 or ", n, " values");
    if (cfg.context_dim > 0)
        SDPP_CHECK(context.defined() && context.ndim() == 3 && context.dim(0) == n && context.dim(2) == cfg.context_dim,
                   "[unet] context ", context.defined() ? context.shape_str() : "(none)", " must be [", n, ",S,",
                   cfg.context_dim, "]");
    if (cfg.adm_in_channels > 0)
        SDPP_CHECK((y.defined() && y.shape() == Shape{n, cfg.adm_in_channels}), "[unet] y ",
                   y.defined() ? y.shape_str() : "(none)", " must be [", n, ",", cfg.adm_in_channels, "] (SDXL adm vector)");
    else
        SDPP_CHECK(!y.defined(), "[unet] this U-Net takes no y (adm) input");
    auto tr = [&](const std::string& name, const Tensor& v) {
        if (trace && *trace) (*trace)(name, v);
    };

    std::vector<float> ts = t.to_vector();
    if (ts.size() == 1) ts.assign(size_t(n), ts[0]);
    Tensor emb = time_embed_2(ctx, silu(ctx, time_embed_0(ctx, timestep_embedding(ts, cfg.model_channels))));  // [N, E]
    tr("time_embedding", emb);
    if (label_emb_0) {
        Tensor a = (*label_emb_2)(ctx, silu(ctx, (*label_emb_0)(ctx, y)));  // [N, E]
        tr("add_embedding", a);
        emb = add(ctx, emb, a);
    }
    const Tensor emb_act = silu(ctx, emb);  // every ResBlock's emb_layers starts with SiLU

    std::vector<Tensor> skips;  // every input block's output, consumed in reverse by the output blocks
    Tensor h = conv_in(ctx, x);  // [N, mc, H, W]
    tr("conv_in", h);
    skips.push_back(h);
    int level = 0;
    for (size_t i = 0; i < input_blocks.size(); ++i) {
        h = input_blocks[i].forward(ctx, h, emb_act, context);
        skips.push_back(h);
        if (trace) {
            tr("input_blocks." + std::to_string(i + 1), h);
            if (input_blocks[i].down) tr("down_blocks." + std::to_string(level++), h);
        }
    }
    tr("down_blocks." + std::to_string(level), h);

    h = mid_res1.forward(ctx, h, emb_act);
    if (mid_attn) h = mid_attn->forward(ctx, h, context);
    h = mid_res2.forward(ctx, h, emb_act);
    tr("mid_block", h);

    level = 0;
    for (size_t i = 0; i < output_blocks.size(); ++i) {
        SDPP_CHECK(!skips.empty(), "[unet] skip stack underflow");
        Tensor cat;
        {
            std::array<Tensor, 2> parts{h, skips.back()};
            skips.pop_back();
            h = Tensor();
            cat = concat(ctx, parts, 1);  // [N, C + Cskip, H, W]
        }
        Shape up_size;
        if (output_blocks[i].up && !skips.empty()) up_size = {skips.back().dim(2), skips.back().dim(3)};
        h = output_blocks[i].forward(ctx, std::move(cat), emb_act, context, up_size);
        if (trace) {
            tr("output_blocks." + std::to_string(i), h);
            if (output_blocks[i].up || i + 1 == output_blocks.size()) tr("up_blocks." + std::to_string(level++), h);
        }
    }
    return out_conv(ctx, out_norm(ctx, h, /*fuse_silu=*/true));  // [N, Cout, H, W]
}

// ---- embeddings --------------------------------------------------------------------------------

Tensor timestep_embedding(std::span<const float> t, int64_t dim, float max_period) {
    SDPP_ASSERT(dim >= 2, "timestep_embedding: dim ", dim, " too small");
    const int64_t n = int64_t(t.size()), half = dim / 2;
    // float32 throughout, in the reference's order: exp(-log(max_period) * i / half), then t * freq.
    std::vector<float> freqs(static_cast<size_t>(half));
    const float neg_log = float(-std::log(double(max_period)));
    for (int64_t i = 0; i < half; ++i) freqs[size_t(i)] = std::exp(neg_log * float(i) / float(half));
    Tensor out = Tensor::zeros({n, dim});  // an odd dim leaves the last column zero, as LDM pads
    float* o = out.data<float>();
    for (int64_t b = 0; b < n; ++b) {
        for (int64_t i = 0; i < half; ++i) {
            const float arg = t[size_t(b)] * freqs[size_t(i)];
            o[b * dim + i] = float(std::cos(double(arg)));
            o[b * dim + half + i] = float(std::sin(double(arg)));
        }
    }
    return out;
}

Tensor sdxl_adm_vector(const Tensor& pooled, const Tensor& time_ids, int64_t adm_in_channels) {
    SDPP_CHECK(pooled.defined() && pooled.ndim() == 2, "sdxl_adm_vector: pooled must be [N,P]");
    SDPP_CHECK(time_ids.defined() && time_ids.ndim() == 2 && time_ids.dim(0) == pooled.dim(0) && time_ids.dim(1) > 0,
               "sdxl_adm_vector: time_ids ", time_ids.defined() ? time_ids.shape_str() : "(none)", " must be [",
               pooled.dim(0), ",K]");
    const int64_t n = pooled.dim(0), p = pooled.dim(1), k = time_ids.dim(1);
    const int64_t rest = adm_in_channels - p;
    SDPP_CHECK(rest > 0 && rest % k == 0 && (rest / k) % 2 == 0, "sdxl_adm_vector: adm width ", adm_in_channels,
               " does not hold pooled ", pooled.shape_str(), " plus ", k, " embedded ids");
    const int64_t d = rest / k;
    Tensor y = Tensor::empty({n, adm_in_channels});
    std::vector<float> pv = pooled.to_vector(), ids = time_ids.to_vector();
    float* o = y.data<float>();
    for (int64_t b = 0; b < n; ++b) {
        std::copy(pv.begin() + b * p, pv.begin() + (b + 1) * p, o + b * adm_in_channels);
        Tensor e = timestep_embedding(std::span<const float>(ids.data() + b * k, size_t(k)), d);  // [K, D]
        const float* ep = e.data<float>();
        std::copy(ep, ep + k * d, o + b * adm_in_channels + p);
    }
    return y;
}

}  // namespace sdpp
