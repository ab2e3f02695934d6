// Network merge and restore (see lora_apply.h). Mirrors AUTOMATIC1111 extensions-builtin/Lora
// networks.py network_apply_weights (merge order, separate te / unet multipliers) and network.py
// finalize_updown (W + updown * scale * m).
#include "model/lora_apply.h"

#include "core/error.h"
#include "core/log.h"

#include <algorithm>

namespace sdpp {

namespace {

// "sdxl-refiner" and "sdxl" take the same networks' names; the rest compare as they are.
std::string base_family(const std::string& f) { return f.starts_with("sdxl") ? "sdxl" : f; }

std::string upper(std::string s) {
    for (char& c : s) c = char(std::toupper(static_cast<unsigned char>(c)));
    return s;
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
            if (it == merged.end()) it = merged.emplace(t->key, store.raw(t->key).to(DType::F32).clone()).first;
            Tensor& w = it->second;
            Tensor delta;
            try {
                delta = network_delta(ctx, m, w.shape());
            } catch (const Error& e) {
                throw error("network '", u.name, "' does not fit this ", upper(model_family), " model (made for ",
                            for_fam, "): ", e.what());
            }
            float* pw = w.data<float>();
            const float* pd = delta.contiguous().data<float>();
            const int64_t n = w.numel();
#pragma omp parallel for schedule(static)
            for (int64_t i = 0; i < n; ++i) pw[i] += pd[i] * mult;
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
    for (auto& [key, w] : merged) {
        originals_[key] = Original{store.raw(key), store.origin(key)};
        store.add(key, w, store.origin(key) + " + networks");
        (key.starts_with("te") ? report.te_changed : report.unet_changed) = true;
    }
    return report;
}

}  // namespace sdpp
