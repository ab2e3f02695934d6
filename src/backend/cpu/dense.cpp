// conv2d / linear / batched matmul through oneDNN 2.6 (the path PyTorch's CPU backend takes via
// mkldnn/ideep): op descriptor -> primitive descriptor -> primitive, created once per shape and
// kept in a cache; weights converted (f16/bf16 -> compute type) and reordered into the layout the
// primitive asks for ONCE, cached by weight storage (a weak reference: an entry dies with its
// weight). Activations stay f32 NCHW in the tensor API; conv src/dst are reordered to the
// primitive's preferred layout around each call (see docs/performance.md for the measurements).
// bf16 compute uses oneDNN's bf16 kernels where the CPU has them (avx512_bf16 / AMX); elsewhere
// it runs the f32 kernels (oneDNN 2.6 has no bf16 conv/matmul for AVX2-only CPUs).
#include "backend/cpu/cpu_kernels.h"

#include "core/big_pages.h"
#include "core/file_pages.h"
#include "core/log.h"

#include <oneapi/dnnl/dnnl.hpp>

#include <atomic>
#include <cstdlib>
#include <algorithm>
#include <memory>
#include <mutex>
#include <optional>
#include <sstream>
#include <unordered_map>

namespace sdpp::cpu {
namespace {

using namespace dnnl;
using tag = memory::format_tag;
using dt = memory::data_type;

engine& eng() {
    static engine e = (kernels(), engine(engine::kind::cpu, 0));  // SDPP_CPU_ISA caps oneDNN before its first use
    return e;
}
stream& strm() {
    thread_local stream s(eng());
    return s;
}

struct Prepared {
    std::weak_ptr<std::byte> owner;
    DType dtype;
    memory::desc md;
    memory mem;
    std::shared_ptr<std::byte> buffer;  // mem's storage (map_big)
};
struct ConvEntry {
    convolution_forward::primitive_desc pd;
    convolution_forward prim;
    memory::desc src_user, dst_user, w_plain;
};
struct MatmulEntry {
    dnnl::matmul::primitive_desc pd;
    dnnl::matmul prim;
    memory::desc src_user, wei_user, dst_user;
};

}  // namespace

// Everything one CPU backend instance caches and counts: oneDNN primitives by shape, prepared
// weights within their budget, and the counters tests read. Two instances share nothing but the
// oneDNN engine (immutable) and per-thread streams and scratch.
struct DenseState {
    std::mutex mu;  // guards the maps and weight_bytes / weight_limit
    std::unordered_multimap<const void*, Prepared> weights;
    size_t weight_bytes = 0;
    size_t weight_limit = SIZE_MAX;
    std::unordered_map<std::string, std::shared_ptr<ConvEntry>> convs;
    std::unordered_map<std::string, std::shared_ptr<MatmulEntry>> matmuls;
    ConvLayoutChoice layout = ConvLayoutChoice::Auto;
    std::atomic<size_t> ref_fallbacks{0}, converted_in_blocks{0}, staging_peak{0};
};

namespace {

// oneDNN silently falls back to its reference kernels (orders of magnitude slower) for
// configurations its fast kernels do not cover; count and report those.
void note_impl(DenseState& st, const char* op, const std::string& impl, const std::string& key) {
    log_trace("[", op, "] oneDNN ", impl, " for ", key);
    if (impl.find("ref") != std::string::npos) {
        ++st.ref_fallbacks;
        log_warn("[", op, "] oneDNN chose its slow reference kernel (", impl, ") for ", key);
    }
}


// ---- prepared weights --------------------------------------------------------------------------
// A weight is converted to f32 and reordered into the layout its primitive wants. Within the
// budget (set_prepared_weight_limit) the result is kept, keyed by the
// weight's data pointer and owner; past it the conversion runs on every call into per-thread
// scratch (reused, so no page faults), which is how a 2 GB f16 U-Net runs in ~2 GB of RAM
// on CPUs without bf16 kernels (docs/performance.md has the cost).

bool same_owner(const std::weak_ptr<std::byte>& a, const std::weak_ptr<std::byte>& b) {
    return !a.owner_before(b) && !b.owner_before(a);
}

void purge_expired(DenseState& st) {
    for (auto it = st.weights.begin(); it != st.weights.end();) {
        if (it->second.owner.expired()) {
            st.weight_bytes -= it->second.md.get_size();
            it = st.weights.erase(it);
        } else {
            ++it;
        }
    }
}

// f16/bf16 -> f32 in parallel chunks (a U-Net converts ~860M values per step when uncached).
void convert_to_f32(const View& w, float* out) {
    const int64_t n = w.numel(), chunk = 1 << 16;
    const size_t esize = dtype_size(w.dtype);
#pragma omp parallel for schedule(static)
    for (int64_t i = 0; i < n; i += chunk)
        convert(static_cast<const std::byte*>(w.data) + size_t(i) * esize, w.dtype, out + i, DType::F32,
                size_t(std::min(chunk, n - i)));
}

// Per-thread buffers for weights converted on every call: t_packed holds the weight as the kernel
// takes it (reordered, or only converted when its layout is plain), t_plain the f32 staging copy
// (a few output-channel blocks at a time for blocked conv weights). Grown as needed and reused (a
// caching allocator would keep one block per weight size; fresh memory each call would page-fault
// ~3.4 GB per SD 1.5 step). A thread runs one op at a time, so one weight at a time uses them.
struct ScratchBuffer {
    std::unique_ptr<float[], decltype(&std::free)> p{nullptr, &std::free};
    size_t floats = 0;
    float* get(size_t n) {
        if (n > floats) {
            p.reset(static_cast<float*>(std::aligned_alloc(64, (n * sizeof(float) + 63) / 64 * 64)));
            if (!p) throw std::bad_alloc();
            floats = n;
        }
        return p.get();
    }
};
thread_local ScratchBuffer t_plain, t_packed;

// Where a weight layout keeps whole output-channel blocks outermost, each block of `ob` output
// channels is one contiguous run of `block_elems` elements, laid out as the same layout of just
// those channels. oneDNN's conv weight layouts do (OIhw8i8o on AVX2, OIhw16i16o / Ohwi16o on
// AVX-512, OIhw8i16o2i for bf16, ...); this reads it off the descriptor rather than a list of
// known tags, so it holds for whatever oneDNN picks on a given CPU.
struct OuterOBlocks {
    int64_t ob;           // output channels per block
    int64_t block_elems;  // elements per block, padding included
};
std::optional<OuterOBlocks> outer_o_blocks(const memory::desc& want) {
    const dnnl_memory_desc_t& md = want.data;
    if (md.ndims != 4 || md.format_kind != dnnl_blocked || md.offset0 != 0 || md.extra.flags != 0)
        return std::nullopt;
    const auto& b = md.format_desc.blocking;
    int64_t ob = 1, padded = 1;
    for (int i = 0; i < b.inner_nblks; ++i)
        if (b.inner_idxs[i] == 0) ob *= b.inner_blks[i];
    for (int d = 0; d < 4; ++d) padded *= md.padded_dims[d];
    // Dense (no gaps) and the output-channel block index strides over the whole buffer: then every
    // other dim's offsets fit inside one block's run.
    const size_t esize = memory::data_type_size(want.data_type());
    if (want.get_size() != size_t(padded) * esize || b.strides[0] * (md.padded_dims[0] / ob) != padded)
        return std::nullopt;
    return OuterOBlocks{ob, b.strides[0]};
}

// The part of `want` that holds output channels [o0, o0 + n): same strides, fewer channels (o0 a
// multiple of the block). Its data starts (o0 / ob) blocks into the buffer.
memory::desc o_chunk(const memory::desc& want, const OuterOBlocks& blocks, int64_t n) {
    dnnl_memory_desc_t md = want.data;
    md.dims[0] = n;
    md.padded_dims[0] = (n + blocks.ob - 1) / blocks.ob * blocks.ob;
    return memory::desc(md);
}

// An f16/bf16 conv weight (OIHW) into `want` at dst, a few output-channel blocks at a time through
// this thread's small f32 buffer (about 2 MB) instead of a whole f32 copy (59 MB for a
// 1280x1280x3x3 weight): less memory and cache-resident passes. False when `want` does not keep
// output-channel blocks outermost.
constexpr int64_t kStagingFloats = int64_t(1) << 19;  // 2 MiB of f32

bool convert_in_blocks(DenseState& st, const View& w, const memory::desc& want, void* dst) {
    const auto blocks = outer_o_blocks(want);
    if (!blocks) return false;
    ++st.converted_in_blocks;
    const int64_t ob = blocks->ob;
    const memory::dims d = want.dims();
    const int64_t per_o = d[1] * d[2] * d[3];
    const int64_t step = std::max<int64_t>(ob, kStagingFloats / per_o / ob * ob);
    const size_t block_bytes = size_t(blocks->block_elems) * memory::data_type_size(want.data_type());
    const size_t esize = dtype_size(w.dtype);
    for (int64_t o0 = 0; o0 < d[0]; o0 += step) {
        const int64_t n = std::min(step, d[0] - o0);
        View part = w;
        part.data = static_cast<std::byte*>(w.data) + size_t(o0 * per_o) * esize;
        part.shape = {n, d[1], d[2], d[3]};
        float* f32 = t_plain.get(size_t(n * per_o));
        size_t peak = st.staging_peak.load();
        while (size_t(n * per_o) * sizeof(float) > peak &&
               !st.staging_peak.compare_exchange_weak(peak, size_t(n * per_o) * sizeof(float))) {
        }
        convert_to_f32(part, f32);
        memory src(memory::desc({n, d[1], d[2], d[3]}, dt::f32, tag::oihw), eng(), f32);
        memory out(o_chunk(want, *blocks, n), eng(), static_cast<std::byte*>(dst) + size_t(o0 / ob) * block_bytes);
        reorder(src, out).execute(strm(), src, out);
        strm().wait();  // the next block reuses the buffer
    }
    return true;
}

// The weight in layout `want`: the user's memory when it already matches, a cached copy, or a
// copy made now (kept when the budget allows; else in this thread's scratch, valid until the
// thread's next get_weight).
memory get_weight(DenseState& st, const View& w, const memory::desc& plain_f32, const memory::desc& want) {
    if (w.dtype == DType::F32 && want == plain_f32) return memory(plain_f32, eng(), w.data);
    bool cacheable = !w.storage.expired();
    if (cacheable) {
        std::lock_guard<std::mutex> lk(st.mu);
        auto [b, e] = st.weights.equal_range(w.data);
        for (auto it = b; it != e; ++it)
            if (it->second.dtype == w.dtype && it->second.md == want && same_owner(it->second.owner, w.storage) &&
                !it->second.owner.expired())
                return it->second.mem;
    }
    bool keep = false;
    if (cacheable) {
        std::lock_guard<std::mutex> lk(st.mu);
        purge_expired(st);
        keep = st.weight_bytes + want.get_size() <= st.weight_limit;
    }
    // A kept copy gets its own huge-page mapping (a U-Net's are ~1.7 GB of fresh memory in bf16).
    std::shared_ptr<std::byte> buffer;
    if (keep) {
        const size_t n = want.get_size();
        buffer = std::shared_ptr<std::byte>(map_big(n), [n](std::byte* p) { unmap_big(p, n); });
        if (!buffer) throw std::bad_alloc();
    }
    memory dst(want, eng(), keep ? static_cast<void*>(buffer.get()) : t_packed.get((want.get_size() + 3) / 4));
    if (w.dtype == DType::F32) {
        memory src(plain_f32, eng(), w.data);
        reorder(src, dst).execute(strm(), src, dst);
    } else if (want == plain_f32) {
        convert_to_f32(w, static_cast<float*>(dst.get_data_handle()));  // plain layout: convert straight into dst
    } else if (!convert_in_blocks(st, w, want, dst.get_data_handle())) {
        float* f32 = t_plain.get(size_t(w.numel()));
        convert_to_f32(w, f32);
        memory src(plain_f32, eng(), f32);
        reorder(src, dst).execute(strm(), src, dst);
    }
    strm().wait();
    if (keep) {
        std::lock_guard<std::mutex> lk(st.mu);
        // One prepared copy per weight: a new layout replaces the old one.
        auto [b, e] = st.weights.equal_range(w.data);
        for (auto it = b; it != e;) {
            if (same_owner(it->second.owner, w.storage)) {
                st.weight_bytes -= it->second.md.get_size();
                it = st.weights.erase(it);
            } else {
                ++it;
            }
        }
        st.weights.emplace(w.data, Prepared{w.storage, w.dtype, want, dst, std::move(buffer)});
        st.weight_bytes += want.get_size();
    }
    // The kept copy is what runs from now on: the weight's file pages (when it is a view of a
    // mapped file) need not stay resident beside it. The peak of a first step is then the
    // prepared copies, not those plus the whole file.
    if (keep) release_file_pages(w.data, size_t(w.numel()) * dtype_size(w.dtype));
    return dst;
}

// ---- primitive caches --------------------------------------------------------------------------

template <class T>
std::string key_of(const T& v) {
    std::ostringstream os;
    for (auto x : v) os << x << ',';
    return os.str();
}

dt compute_type(DType compute) { return compute == DType::BF16 && native_bf16() ? dt::bf16 : dt::f32; }

// Primitives are made with a user scratchpad: oneDNN's own (library) scratchpad is shared by all
// primitives and unsafe when two threads execute at once (two Engines); this one comes from the
// calling thread's allocator, per call, and is counted with the other tensors.
primitive_attr with_user_scratchpad(primitive_attr attr = {}) {
    attr.set_scratchpad_mode(scratchpad_mode::user);
    return attr;
}
void add_scratchpad(std::unordered_map<int, memory>& args, const memory::desc& sd, Tensor& store) {
    if (sd.get_size() == 0) return;
    store = Tensor::empty({int64_t((sd.get_size() + 3) / 4)});
    args[DNNL_ARG_SCRATCHPAD] = memory(sd, eng(), store.raw());
}

// Runs `src` through a reorder into `want` when the layouts differ; the scratch tensor (from the
// caching allocator) owns the reordered copy.
memory to_layout(memory src, const memory::desc& want, Tensor& scratch) {
    if (src.get_desc() == want) return src;
    scratch = Tensor::empty({int64_t((want.get_size() + 3) / 4)});
    memory dst(want, eng(), scratch.raw());
    reorder(src, dst).execute(strm(), src, dst);
    return dst;
}

// Activation layout the convolution runs in. Blocked: oneDNN picks (nChw8c on AVX2, jit:avx2) and
// src/dst are reordered around the call (~1-2% of the conv). Plain: NCHW in place, which oneDNN
// runs as im2col + jit gemm. Measured on the 2-core EPYC (docs/performance.md): blocked wins for
// large images (64x64x320: 77 vs 64 GFLOP/s; VAE 64x64x512: 75 vs 49), plain for small ones
// (16x16x1280: 66 vs 49; 8x8x1280: 77 vs 49). Dense::set_conv_layout (bench --conv-layout) overrides.
enum class ConvLayout { Blocked, Plain };

ConvLayout choose_layout(ConvLayoutChoice choice, int64_t ci, int64_t ho, int64_t wo) {
    if (choice != ConvLayoutChoice::Auto) return choice == ConvLayoutChoice::Blocked ? ConvLayout::Blocked : ConvLayout::Plain;
    return ho * wo >= 32 * 32 && ci >= 8 ? ConvLayout::Blocked : ConvLayout::Plain;
}

std::shared_ptr<ConvEntry> conv_entry(DenseState& st, const Shape& xs, const Shape& ws, bool bias, int stride, Pad2d pad, Act act,
                                      dt cdt) {
    memory::dim ho_ = (xs[2] + pad.top + pad.bottom - ws[2]) / stride + 1;
    memory::dim wo_ = (xs[3] + pad.left + pad.right - ws[3]) / stride + 1;
    ConvLayout layout = choose_layout(st.layout, xs[1], ho_, wo_);
    std::string key = key_of(xs) + "|" + key_of(ws) + "|" + std::to_string(bias) + std::to_string(stride) + "," +
                      std::to_string(pad.top) + "," + std::to_string(pad.bottom) + "," + std::to_string(pad.left) +
                      "," + std::to_string(pad.right) + "," + std::to_string(int(act)) + "," +
                      std::to_string(int(cdt)) + "," + std::to_string(int(layout));
    std::lock_guard<std::mutex> lk(st.mu);
    auto it = st.convs.find(key);
    if (it != st.convs.end()) return it->second;
    memory::dim n = xs[0], ci = xs[1], h = xs[2], w = xs[3], co = ws[0], kh = ws[2], kw = ws[3];
    memory::dim ho = (h + pad.top + pad.bottom - kh) / stride + 1, wo = (w + pad.left + pad.right - kw) / stride + 1;
    tag act_tag = layout == ConvLayout::Blocked || cdt != dt::f32 ? tag::any : tag::nchw;
    memory::desc src({n, ci, h, w}, cdt, act_tag), wei({co, ci, kh, kw}, cdt, tag::any);
    memory::desc dst({n, co, ho, wo}, dt::f32, act_tag);
    memory::desc bmd = bias ? memory::desc({co}, dt::f32, tag::x) : memory::desc();
    convolution_forward::desc d(prop_kind::forward_inference, algorithm::convolution_direct, src, wei, bmd, dst,
                                {stride, stride}, {pad.top, pad.left}, {pad.bottom, pad.right});
    primitive_attr attr = with_user_scratchpad();
    if (act == Act::SiLU) {
        post_ops po;
        po.append_eltwise(1.0f, algorithm::eltwise_swish, 1.0f, 0.0f);
        attr.set_post_ops(po);
    } else if (act == Act::ReLU || act == Act::SumReLU) {
        post_ops po;
        if (act == Act::SumReLU) po.append_sum(1.0f);  // accumulate into what dst holds
        po.append_eltwise(1.0f, algorithm::eltwise_relu, 0.0f, 0.0f);
        attr.set_post_ops(po);
    }
    auto e = std::make_shared<ConvEntry>();
    e->pd = convolution_forward::primitive_desc(d, attr, eng());
    e->prim = convolution_forward(e->pd);
    note_impl(st, "conv2d", e->pd.impl_info_str(), key);
    e->src_user = memory::desc({n, ci, h, w}, dt::f32, tag::nchw);
    e->dst_user = memory::desc({n, co, ho, wo}, dt::f32, tag::nchw);
    e->w_plain = memory::desc({co, ci, kh, kw}, dt::f32, tag::oihw);
    st.convs.emplace(key, e);
    return e;
}

// src [B?,M,K], wei [B?,K,N], dst [B?,M,N] with the given user descs; weights_any lets oneDNN
// choose the weight layout (used for linear, whose weights are prepared once).
std::shared_ptr<MatmulEntry> matmul_entry(DenseState& st, const std::string& key, const memory::desc& src, const memory::desc& wei,
                                          const memory::desc& dst, bool bias, float alpha, bool weights_any,
                                          dt cdt) {
    std::lock_guard<std::mutex> lk(st.mu);
    auto it = st.matmuls.find(key);
    if (it != st.matmuls.end()) return it->second;
    memory::dims sd = src.dims(), wd = wei.dims(), dd = dst.dims();
    memory::desc s = cdt == dt::f32 ? src : memory::desc(sd, cdt, sd.size() == 2 ? tag::ab : tag::abc);
    memory::desc w = weights_any || cdt != dt::f32 ? memory::desc(wd, cdt, tag::any) : wei;
    memory::desc b;
    if (bias) {
        memory::dims bd(dd.size(), 1);
        bd[dd.size() - 1] = dd[dd.size() - 1];
        b = memory::desc(bd, dt::f32, dd.size() == 2 ? tag::ab : tag::abc);
    }
    primitive_attr attr = with_user_scratchpad();
    if (alpha != 1.0f) attr.set_output_scales(0, {alpha});
    auto e = std::make_shared<MatmulEntry>();
    e->pd = dnnl::matmul::primitive_desc(dnnl::matmul::desc(s, w, b, dst), attr, eng());
    note_impl(st, bias ? "linear" : "matmul", e->pd.impl_info_str(), key);
    e->prim = dnnl::matmul(e->pd);
    e->src_user = src;
    e->wei_user = wei;
    e->dst_user = dst;
    st.matmuls.emplace(key, e);
    return e;
}

[[noreturn]] void rethrow(const char* op, const dnnl::error& e, const std::string& shapes) {
    throw sdpp::error("[", op, "] oneDNN failed for ", shapes, ": ", e.what());
}

}  // namespace

bool native_bf16() {
    static const bool ok = [] {
        try {
            memory::desc a({64, 64}, dt::bf16, tag::ab), c({64, 64}, dt::f32, tag::ab);
            dnnl::matmul::primitive_desc pd(dnnl::matmul::desc(a, a, c), eng());
            std::string impl = pd.impl_info_str();
            return impl.find("ref") == std::string::npos;
        } catch (const dnnl::error&) {
            return false;
        }
    }();
    return ok;
}

namespace {
// A 1x1 stride-1 convolution on NCHW is a matmul per image: y[n] = W [Co, Ci] @ x[n] [Ci, H*W].
// oneDNN's matmul runs it in place at matmul speed (the conv primitive needs nhwc/blocked
// activations for its fast 1x1 kernel, i.e. two reorders).
void conv1x1(DenseState& st, const View& x, const View& w, const View& bias, Act act, DType compute, const View& y) {
    memory::dim n = x.shape[0], ci = x.shape[1], hw = x.shape[2] * x.shape[3], co = w.shape[0];
    memory::desc a({1, co, ci}, dt::f32, tag::abc), b({n, ci, hw}, dt::f32, tag::abc), c({n, co, hw}, dt::f32, tag::abc);
    dt cdt = compute_type(compute);
    std::string key = "c1x1" + key_of(memory::dims{n, ci, hw, co, bias.defined(), int(act), int(cdt)});
    std::shared_ptr<MatmulEntry> e;
    {
        std::lock_guard<std::mutex> lk(st.mu);
        auto it = st.matmuls.find(key);
        if (it != st.matmuls.end()) e = it->second;
    }
    if (!e) {
        // No bias or post-op in the primitive: a per-row bias {1, Co, 1} sends oneDNN 2.6 to its
        // reference matmul (measured: 0.1 GFLOP/s); the epilogue below adds it instead.
        memory::desc s = cdt == dt::f32 ? a : memory::desc({1, co, ci}, cdt, tag::abc);
        memory::desc wd = cdt == dt::f32 ? b : memory::desc({n, ci, hw}, cdt, tag::abc);
        e = std::make_shared<MatmulEntry>();
        e->pd = dnnl::matmul::primitive_desc(dnnl::matmul::desc(s, wd, c), with_user_scratchpad(), eng());
        note_impl(st, "conv2d 1x1", e->pd.impl_info_str(), key);
        e->prim = dnnl::matmul(e->pd);
        e->src_user = a;
        e->wei_user = b;
        e->dst_user = c;
        std::lock_guard<std::mutex> lk(st.mu);
        st.matmuls.emplace(key, e);
    }
    memory wm = get_weight(st, w, a, e->pd.src_desc());
    Tensor xs;
    memory xm = to_layout(memory(b, eng(), x.data), e->pd.weights_desc(), xs);
    std::unordered_map<int, memory> args{{DNNL_ARG_SRC, wm}, {DNNL_ARG_WEIGHTS, xm}, {DNNL_ARG_DST, memory(c, eng(), y.data)}};
    Tensor pad;
    add_scratchpad(args, e->pd.scratchpad_desc(), pad);
    e->prim.execute(strm(), args);
    strm().wait();
    if (bias.defined() || act != Act::None) kernels().bias_act_rows(y.f32(), n * co, hw, bias.defined() ? bias.f32() : nullptr, co, act);
}
}  // namespace

Dense::Dense() : st_(std::make_unique<DenseState>()) {}
Dense::~Dense() = default;

void Dense::conv2d(const View& x, const View& w, const View& bias, int stride, Pad2d pad, Act act, DType compute,
                   const View& y) {
    DenseState& st = *st_;
    try {
        if (w.shape[2] == 1 && w.shape[3] == 1 && stride == 1 && pad.zero() && y.is_contiguous() && x.is_contiguous() &&
            act != Act::SumReLU) {
            conv1x1(st, x, w, bias, act, compute, y);
            return;
        }
        auto e = conv_entry(st, x.shape, w.shape, bias.defined(), stride, pad, act, compute_type(compute));
        // y may be a slice of a bigger map: its own strides (the dst reorder below writes them).
        const memory::desc y_user = y.is_contiguous() ? e->dst_user
                                                      : memory::desc(e->dst_user.dims(), dt::f32,
                                                                     memory::dims(y.strides.begin(), y.strides.end()));
        // x may be a channels-last view (ops.h is_channels_last): described by its own strides, it
        // needs no reorder when the primitive runs channels-last too.
        const memory::desc x_user = x.is_contiguous() ? e->src_user
                                                      : memory::desc(e->src_user.dims(), dt::f32,
                                                                     memory::dims(x.strides.begin(), x.strides.end()));
        memory xm(x_user, eng(), x.data), ym(y_user, eng(), y.data);
        Tensor xs, ys;
        memory src = to_layout(xm, e->pd.src_desc(), xs);
        memory wei = get_weight(st, w, e->w_plain, e->pd.weights_desc());
        memory dst = ym;
        bool dst_reorder = e->pd.dst_desc() != y_user;
        if (dst_reorder) {
            ys = Tensor::empty({int64_t((e->pd.dst_desc().get_size() + 3) / 4)});
            dst = memory(e->pd.dst_desc(), eng(), ys.raw());
            if (act == Act::SumReLU) reorder(ym, dst).execute(strm(), ym, dst);  // the addend
        }
        std::unordered_map<int, memory> args{{DNNL_ARG_SRC, src}, {DNNL_ARG_WEIGHTS, wei}, {DNNL_ARG_DST, dst}};
        if (bias.defined()) args[DNNL_ARG_BIAS] = memory(memory::desc({w.shape[0]}, dt::f32, tag::x), eng(), bias.data);
        Tensor pad;
        add_scratchpad(args, e->pd.scratchpad_desc(), pad);
        e->prim.execute(strm(), args);
        if (dst_reorder) reorder(dst, ym).execute(strm(), dst, ym);
        strm().wait();
    } catch (const dnnl::error& err) {
        rethrow("conv2d", err, "input " + to_string(x.shape) + " weight " + to_string(w.shape));
    }
}

void Dense::linear(const View& x, const View& w, const View& bias, DType compute, const View& y) {
    DenseState& st = *st_;
    try {
        memory::dim m = x.shape[0], k = x.shape[1], n = w.shape[0];
        memory::desc src({m, k}, dt::f32, memory::dims{x.strides[0], 1});
        memory::desc wei({k, n}, dt::f32, memory::dims{1, k});
        memory::desc dst({m, n}, dt::f32, memory::dims{n, 1});
        dt cdt = compute_type(compute);
        std::string key = "lin" + key_of(memory::dims{m, k, n, x.strides[0], bias.defined(), int(cdt)});
        auto e = matmul_entry(st, key, src, wei, dst, bias.defined(), 1.0f, true, cdt);
        Tensor xs;
        memory sm = to_layout(memory(src, eng(), x.data), e->pd.src_desc(), xs);
        memory wm = get_weight(st, w, wei, e->pd.weights_desc());
        std::unordered_map<int, memory> args{{DNNL_ARG_SRC, sm}, {DNNL_ARG_WEIGHTS, wm},
                                             {DNNL_ARG_DST, memory(dst, eng(), y.data)}};
        if (bias.defined()) args[DNNL_ARG_BIAS] = memory(memory::desc({1, n}, dt::f32, tag::ab), eng(), bias.data);
        Tensor pad;
        add_scratchpad(args, e->pd.scratchpad_desc(), pad);
        e->prim.execute(strm(), args);
        strm().wait();
    } catch (const dnnl::error& err) {
        rethrow("linear", err, "input " + to_string(x.shape) + " weight " + to_string(w.shape));
    }
}

void Dense::matmul(const View& a_, const View& b_, float alpha, DType compute, const View& y) {
    DenseState& st = *st_;
    // oneDNN's gemm-based matmul needs a unit stride in one of the two inner dims.
    Tensor ac, bc;
    View a = a_, b = b_;
    auto fix = [](const View& v, Tensor& store) {
        if (v.strides[1] == 1 || v.strides[2] == 1) return v;
        store = Tensor::empty(v.shape);
        kernels().copy_to_contiguous(v, store.data<float>());
        View c = view_of(store);
        if (v.strides[0] == 0) c.strides[0] = 0;
        return c;
    };
    a = fix(a, ac);
    b = fix(b, bc);
    try {
        memory::dim bs = y.shape[0], m = y.shape[1], n = y.shape[2], k = a.shape[2];
        memory::dim ba = a.strides[0] == 0 ? 1 : bs, bb = b.strides[0] == 0 ? 1 : bs;
        memory::desc src({ba, m, k}, dt::f32, memory::dims{ba == 1 ? m * k : a.strides[0], a.strides[1], a.strides[2]});
        memory::desc wei({bb, k, n}, dt::f32, memory::dims{bb == 1 ? k * n : b.strides[0], b.strides[1], b.strides[2]});
        memory::desc dst({bs, m, n}, dt::f32, tag::abc);
        dt cdt = compute_type(compute);
        std::string key = "mm" + key_of(memory::dims{ba, bb, bs, m, k, n, a.strides[0], a.strides[1], a.strides[2],
                                                     b.strides[0], b.strides[1], b.strides[2], int(cdt)}) +
                          std::to_string(alpha);
        auto e = matmul_entry(st, key, src, wei, dst, false, alpha, false, cdt);
        Tensor as, bsc;
        memory am = to_layout(memory(src, eng(), a.data), e->pd.src_desc(), as);
        memory bm = to_layout(memory(wei, eng(), b.data), e->pd.weights_desc(), bsc);
        std::unordered_map<int, memory> args{{DNNL_ARG_SRC, am}, {DNNL_ARG_WEIGHTS, bm},
                                             {DNNL_ARG_DST, memory(dst, eng(), y.data)}};
        Tensor pad;
        add_scratchpad(args, e->pd.scratchpad_desc(), pad);
        e->prim.execute(strm(), args);
        strm().wait();
    } catch (const dnnl::error& err) {
        rethrow("matmul", err, "a " + to_string(a.shape) + " b " + to_string(b.shape));
    }
}

void Dense::prepare_weight(const View& w, WeightUse use, DType compute, std::span<const int64_t> conv) {
    DenseState& st = *st_;
    try {
        if (use == WeightUse::Conv2d) {
            int64_t h = conv.size() == 4 ? conv[0] : 64, wd = conv.size() == 4 ? conv[1] : 64;
            int stride = conv.size() == 4 ? int(conv[2]) : 1, pad = conv.size() == 4 ? int(conv[3]) : int(w.shape[2] / 2);
            if (w.shape[2] == 1 && w.shape[3] == 1 && stride == 1 && pad == 0) {
                memory::desc a({1, w.shape[0], w.shape[1]}, dt::f32, tag::abc);
                if (compute_type(compute) == dt::f32) get_weight(st, w, a, a);
                else get_weight(st, w, a, memory::desc({1, w.shape[0], w.shape[1]}, dt::bf16, tag::abc));
                return;
            }
            auto e = conv_entry(st, {1, w.shape[1], h, wd}, w.shape, true, stride, Pad2d::all(pad), Act::None,
                                compute_type(compute));
            get_weight(st, w, e->w_plain, e->pd.weights_desc());
        } else {
            memory::dim m = 64, k = w.shape[1], n = w.shape[0];
            memory::desc src({m, k}, dt::f32, memory::dims{k, 1});
            memory::desc wei({k, n}, dt::f32, memory::dims{1, k});
            memory::desc dst({m, n}, dt::f32, memory::dims{n, 1});
            dt cdt = compute_type(compute);
            std::string key = "lin" + key_of(memory::dims{m, k, n, k, 1, int(cdt)});
            auto e = matmul_entry(st, key, src, wei, dst, true, 1.0f, true, cdt);
            get_weight(st, w, wei, e->pd.weights_desc());
        }
    } catch (const dnnl::error& err) {
        rethrow("prepare_weight", err, "weight " + to_string(w.shape));
    }
}

void Dense::release_prepared_weights() {
    std::lock_guard<std::mutex> lk(st_->mu);
    st_->weights.clear();
    st_->weight_bytes = 0;
}

void Dense::set_prepared_weight_limit(size_t bytes) {
    std::lock_guard<std::mutex> lk(st_->mu);
    st_->weight_limit = bytes;
}

void Dense::set_conv_layout(ConvLayoutChoice c) {
    std::lock_guard<std::mutex> lk(st_->mu);
    st_->layout = c;
    st_->convs.clear();  // primitives were made for the old choice
}

size_t Dense::prepared_weight_bytes() const {
    std::lock_guard<std::mutex> lk(st_->mu);
    DenseState& st = *st_;
    purge_expired(st);
    return st.weight_bytes;
}

DenseCounters Dense::counters() const {
    return {st_->ref_fallbacks.load(), st_->converted_in_blocks.load(), st_->staging_peak.load()};
}

}  // namespace sdpp::cpu
