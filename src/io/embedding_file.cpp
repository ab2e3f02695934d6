// Textual-inversion embedding files: the shapes A1111's create_embedding_from_data accepts
// (stable-diffusion-webui modules/textual_inversion/textual_inversion.py), read from a torch.save
// zip (io/ckpt.h: restricted unpickler, nothing executed) or a safetensors file (io/safetensors.h).
#include "io/embedding_file.h"

#include "core/error.h"
#include "io/ckpt.h"
#include "io/mapped_file.h"
#include "io/safetensors.h"

#include <cmath>
#include <cstring>
#include <utility>
#include <vector>

namespace sdpp {

namespace {

using Named = std::vector<std::pair<std::string, Tensor>>;

// A safetensors file's tensors as views of `data`; the header is validated first.
Named safetensors_tensors(const std::shared_ptr<const void>& owner, const std::byte* data, size_t size,
                          const std::string& name) {
    SafetensorsHeader h;
    try {
        h = parse_safetensors_header(data, size);
    } catch (const Error& e) {
        throw error(name, ": ", e.what());
    }
    Named out;
    for (const SafetensorsEntry& e : h.entries)
        out.emplace_back(e.name, Tensor::borrow(owner, data + h.data_offset + e.begin, e.shape, e.dtype));
    return out;
}

// [N, W] float32 vectors from one stored tensor ([W] counts as one vector, as A1111 unsqueezes it).
Tensor vectors_of(const Tensor& t, const std::string& key, const std::string& name) {
    if (!is_float(t.dtype()))
        throw error(name, ": embedding tensor '", key, "' is ", dtype_name(t.dtype()), ", not a float type");
    Tensor v = t.ndim() == 1 ? t.unsqueeze(0) : t;
    if (v.ndim() != 2 || v.dim(0) < 1 || v.dim(1) < 1)
        throw error(name, ": embedding tensor '", key, "' has shape ", t.shape_str(), ", expected [vectors, width]");
    if (v.dim(0) > kMaxEmbeddingVectors)
        throw error(name, ": embedding tensor '", key, "' holds ", v.dim(0), " vectors; at most ", kMaxEmbeddingVectors,
                    " fit in a 75-token prompt chunk");
    Tensor f = v.to(DType::F32).clone();  // owned: the file's mapping can go
    const float* p = f.data<float>();
    for (int64_t i = 0; i < f.numel(); ++i)
        if (!std::isfinite(p[i])) throw error(name, ": embedding tensor '", key, "' holds a non-finite value");
    return f;
}

std::string key_list(const Named& t) {
    std::string s;
    for (size_t i = 0; i < t.size() && i < 6; ++i) s += (i ? ", " : "") + std::string("'") + t[i].first + "'";
    if (t.size() > 6) s += ", ...";
    return s.empty() ? "none" : s;
}

// create_embedding_from_data over the file's tensors (`a1111_pt`: they came from string_to_param).
EmbeddingData interpret(const Named& tensors, bool a1111_pt, const std::string& name) {
    EmbeddingData d;
    const Tensor* l = nullptr;
    const Tensor* g = nullptr;
    for (const auto& [k, t] : tensors) {
        if (k == "clip_l") l = &t;
        if (k == "clip_g") g = &t;
    }
    if (!a1111_pt && l && g) {
        d.format = "sdxl";
        d.clip_l = vectors_of(*l, "clip_l", name);
        d.clip_g = vectors_of(*g, "clip_g", name);
        if (d.clip_l.dim(0) != d.clip_g.dim(0))
            throw error(name, ": SDXL embedding has ", d.clip_l.dim(0), " clip_l vectors but ", d.clip_g.dim(0),
                        " clip_g vectors");
        d.n_vectors = d.clip_g.dim(0);
        return d;
    }
    if (tensors.size() != 1)
        throw error(name, ": not a textual-inversion embedding: ",
                    tensors.empty() ? std::string("no tensors")
                                    : std::to_string(tensors.size()) + " tensors (" + key_list(tensors) + ")",
                    "; expected one (string_to_param, emb_params, a token name) or clip_l + clip_g");
    d.format = a1111_pt ? "a1111_pt" : "single_tensor";
    d.vectors = vectors_of(tensors[0].second, tensors[0].first, name);
    d.n_vectors = d.vectors.dim(0);
    return d;
}

}  // namespace

EmbeddingData read_embedding_memory(std::shared_ptr<const void> owner, const std::byte* data, size_t size,
                                    const std::string& name) {
    if (size > kMaxEmbeddingFileBytes)
        throw error(name, ": ", size, " bytes is too large for a textual-inversion embedding (limit ",
                    kMaxEmbeddingFileBytes >> 20, " MiB)");
    if (size == 0) throw error(name, ": empty file");
    const bool zip = size >= 4 && std::memcmp(data, "PK\x03\x04", 4) == 0;
    // safetensors: an 8-byte header length, then the JSON header ('{'); its first byte can be 0x80.
    if (!zip && size >= 9 && uint8_t(data[8]) == '{')
        return interpret(safetensors_tensors(owner, data, size, name), false, name);
    if (zip || is_legacy_torch_file(data, size) || uint8_t(data[0]) == 0x80) {
        CkptLimits lim;
        lim.max_pickle_bytes = kMaxEmbeddingFileBytes;
        lim.max_owned_bytes = kMaxEmbeddingFileBytes;
        CkptFile f = CkptFile::from_memory(owner, data, size, name, lim);  // refuses legacy formats by name
        return interpret(f.tensors(), f.nesting() == "string_to_param", name);
    }
    throw error(name, ": not an embedding file (neither a torch.save zip nor safetensors)");
}

EmbeddingData read_embedding_file(const std::string& path) {
    std::shared_ptr<const MappedFile> m = MappedFile::open(path);
    const std::byte* d = m->data();
    const size_t n = m->size();
    return read_embedding_memory(std::move(m), d, n, path);
}

}  // namespace sdpp
