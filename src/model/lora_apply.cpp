// Network merge and restore (see lora_apply.h). Mirrors AUTOMATIC1111 extensions-builtin/Lora
// networks.py network_apply_weights (merge order, separate te / unet multipliers) and network.py
// finalize_updown (W + updown * scale * m).
#include "model/lora_apply.h"

#include "core/big_pages.h"
#include "core/error.h"
#include "core/log.h"

#include <algorithm>
#include <chrono>

#include <time.h>

namespace sdpp {

namespace {

// "sdxl-refiner" and "sdxl" take the same networks' names; the rest compare as they are.
std::string base_family(const std::string& f) { return f.starts_with("sdxl") ? "sdxl" : f; }

std::string upper(std::string s) {
    for (char& c : s) c = char(std::toupper(static_cast<unsigned char>(c)));
    return s;
}

// An f32 tensor for a merged weight. Large ones get their own mapping with transparent huge pages
// requested: a full-size U-Net's merged weights are ~3.4 GB of fresh memory, whose 4 KiB page
// faults otherwise cost about as much as the merge itself.
Tensor merged_tensor(const Shape& shape) {
    const size_t bytes = size_t(numel_of(shape)) * sizeof(float);
    if (bytes < (size_t(4) << 20)) return Tensor::empty(shape);
    std::byte* p = map_big(bytes);
    if (!p) throw error("networks: cannot allocate ", bytes >> 20, " MiB for a merged weight");
    std::shared_ptr<void> owner(p, [bytes](void* q) { unmap_big(static_cast<std::byte*>(q), bytes); });
    return Tensor::borrow(owner, p, shape, DType::F32);
}

// W[i, :] (+)= alpha * sum_k up[i, k] * down[k, :], row by row in parallel; with `src`, row i of W
// is first converted from the original weight (any float dtype), so the f32 copy, the product and
// the sum take one pass over W. A rank-r update is r axpys per row: the row stays in cache.
void merge_lora_rows(float* w, const Tensor* src, const float* up, const float* down, int64_t rows, int64_t cols,
                     int64_t rank, float alpha) {
    const std::byte* sp = src ? static_cast<const std::byte*>(src->raw()) : nullptr;
    const size_t esize = src ? dtype_size(src->dtype()) : 0;
#pragma omp parallel for schedule(static)
    for (int64_t i = 0; i < rows; ++i) {
        float* row = w + i * cols;
        if (sp) convert(sp + size_t(i * cols) * esize, src->dtype(), row, DType::F32, size_t(cols));
        int64_t k = 0;
        for (; k + 4 <= rank; k += 4) {  // four axpys per pass: one load and store of the row per 4 FMAs
            const float* u = up + i * rank + k;
            const float a0 = alpha * u[0], a1 = alpha * u[1], a2 = alpha * u[2], a3 = alpha * u[3];
            const float* __restrict d0 = down + k * cols;
            const float* __restrict d1 = d0 + cols;
            const float* __restrict d2 = d1 + cols;
            const float* __restrict d3 = d2 + cols;
            float* __restrict r = row;
            for (int64_t j = 0; j < cols; ++j) r[j] += a0 * d0[j] + a1 * d1[j] + a2 * d2[j] + a3 * d3[j];
        }
        for (; k < rank; ++k) {
            const float a = alpha * up[i * rank + k];
            const float* __restrict d = down + k * cols;
            float* __restrict r = row;
            for (int64_t j = 0; j < cols; ++j) r[j] += a * d[j];
        }
    }
}

}  // namespace

MergeReport NetworkMerger::restore(WeightStore& store) {
    MergeReport r;
    for (auto& [key, o] : originals_) {
        store.add(key, o.tensor, o.origin);
        (key.starts_with("te") ? r.te_changed : r.unet_changed) = true;
    }
    originals_.clear();
    return r;
}

MergeReport NetworkMerger::apply(Ctx& ctx, WeightStore& store, const std::string& model_family,
                                 const std::vector<NetworkUse>& uses) {
    MergeReport report = restore(store);
    if (uses.empty()) return report;
    const NetworkKeyMapper mapper(store.names());
    using Clock = std::chrono::steady_clock;
    double t_convert = 0, t_delta = 0, t_add = 0;  // seconds, for the debug log
    auto since = [](Clock::time_point t0) { return std::chrono::duration<double>(Clock::now() - t0).count(); };
    auto cpu_seconds = [] {
        timespec ts{};
        clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
        return double(ts.tv_sec) + 1e-9 * double(ts.tv_nsec);
    };
    const double cpu0 = cpu_seconds();
    std::map<std::string, Tensor> merged;  // internal key -> W' (f32, owned)
    for (const NetworkUse& u : uses) {
        const NetworkFile& nf = *u.file;
        const std::string fam = nf.family();
        if (!fam.empty() && !model_family.empty() && base_family(fam) != base_family(model_family))
            throw error("network '", u.name, "' (", nf.path, ") is for ", upper(fam), "; the model is ",
                        upper(model_family));
        const std::string for_fam = fam.empty() ? "another model" : upper(fam);
        int matched = 0;
        std::vector<std::string> missing;
        for (const NetModule& m : nf.modules) {
            if (m.kind == NetKind::Unsupported) {
                missing.push_back(m.name + " (" + m.unsupported + ")");
                continue;
            }
            const std::optional<NetTarget> t = mapper.map(m.name);
            if (!t) {
                missing.push_back(m.name);
                continue;
            }
            ++matched;
            const float mult = t->component == NetComponent::UNet ? u.unet_multiplier : u.te_multiplier;
            if (mult == 0.0f) continue;
            auto it = merged.find(t->key);
            if (m.kind == NetKind::LoRA) {  // fused: convert + rank-r update in one pass over W
                const auto t0 = Clock::now();
                const Tensor orig = store.raw(t->key);
                const Shape& ws = orig.shape();
                const int64_t rows = ws[0], cols = orig.numel() / rows;
                const Tensor& down = m.at(NetPart::LoraDown);
                const Tensor& up = m.at(NetPart::LoraUp);
                const int64_t rank = down.dim(0);
                if (up.numel() != rows * rank || down.numel() != rank * cols || up.dim(0) != rows)
                    throw error("network '", u.name, "' does not fit this ", upper(model_family), " model (made for ",
                                for_fam, "): module '", m.name, "' has lora_up ", up.shape_str(), " and lora_down ",
                                down.shape_str(), " for a weight of shape ", orig.shape_str());
                const Tensor up32 = up.to(DType::F32), down32 = down.to(DType::F32);
                const bool fresh = it == merged.end();
                const Tensor src = fresh ? orig.contiguous() : Tensor();
                if (fresh) it = merged.emplace(t->key, merged_tensor(ws)).first;
                merge_lora_rows(it->second.data<float>(), fresh ? &src : nullptr, up32.data<float>(),
                                down32.data<float>(), rows, cols, rank, m.scale() * mult);
                t_delta += since(t0);
                ++report.modules_applied;
                continue;
            }
            if (it == merged.end()) {
                const auto t0 = Clock::now();
                const Tensor orig = store.raw(t->key);
                Tensor w32 = orig.to(DType::F32);  // a new tensor unless the file is f32 already
                if (w32.storage() == orig.storage()) w32 = w32.clone();
                it = merged.emplace(t->key, w32).first;
                t_convert += since(t0);
            }
            Tensor& w = it->second;
            Tensor delta;
            auto t1 = Clock::now();
            try {
                delta = network_delta(ctx, m, w.shape(), mult);
            } catch (const Error& e) {
                throw error("network '", u.name, "' does not fit this ", upper(model_family), " model (made for ",
                            for_fam, "): ", e.what());
            }
            t_delta += since(t1);
            t1 = Clock::now();
            float* pw = w.data<float>();
            const float* pd = delta.contiguous().data<float>();
            const int64_t n = w.numel();
#pragma omp parallel for schedule(static)
            for (int64_t i = 0; i < n; ++i) pw[i] += pd[i];
            t_add += since(t1);
            ++report.modules_applied;
        }
        for (const std::string& k : nf.unknown_keys) missing.push_back(k + " (unknown tensor)");
        if (matched == 0 && !nf.modules.empty())
            throw error("network '", u.name, "': none of its ", nf.modules.size(), " modules matches this ",
                        upper(model_family), " model (made for ", for_fam, ")");
        if (!missing.empty()) {
            std::string list;
            for (size_t i = 0; i < missing.size(); ++i) list += (i ? ", " : "") + missing[i];
            log_warn("network '", u.name, "': ", missing.size(), " of ", nf.modules.size(),
                     " module(s) not applied (no such weight in the model, or unsupported): ", list);
            report.unmatched.push_back(u.name + ": " + list);
        }
    }
    log_debug("networks: LoRA merges ", t_delta, " s, other modules: weights to f32 ", t_convert, " s, adds ", t_add,
              " s; process CPU time ", cpu_seconds() - cpu0, " s");
    for (auto& [key, w] : merged) {
        originals_[key] = Original{store.raw(key), store.origin(key)};
        store.add(key, w, store.origin(key) + " + networks");
        (key.starts_with("te") ? report.te_changed : report.unet_changed) = true;
    }
    return report;
}

}  // namespace sdpp
