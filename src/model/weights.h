// WeightStore: every tensor of a model under ONE internal naming, whatever file layout it came from.
// WeightScope: a store plus a key prefix, the way model code binds its members:
//     ResBlock::load(w.sub("input_blocks").sub(1).sub(0))  ->  get("in_layers.0.weight", {C})
//
// Internal naming (key_map.cpp rewrites every other layout into it):
//   model.diffusion_model.*   U-Net, original LDM/SGM single-file names
//   first_stage_model.*       VAE, LDM names; mid-block attention q/k/v/proj_out as 1x1 convs [C, C, 1, 1]
//   te1.*, te2.*              text encoders in HF CLIPTextModel naming ("text_model.encoder.layers.0.
//                             self_attn.q_proj.weight", ...); te1 = the only encoder of SD1/SD2, CLIP-L of
//                             SDXL; te2 = SDXL's OpenCLIP-bigG, with "text_projection.weight" [proj, width]
//                             (nn.Linear layout, no bias). These match kohya LoRA's lora_te1_/lora_te2_.
#pragma once
#include "core/tensor.h"

#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <vector>

namespace sdpp {

class WeightStore {
public:
    // Adds (or replaces) a tensor under its internal name; `origin` (file key or path) goes in errors.
    void add(const std::string& name, Tensor t, const std::string& origin = "");
    bool contains(const std::string& name) const { return tensors_.count(name) != 0; }
    // The tensor as stored (any dtype, possibly a borrowed mmap view). Marks it used.
    Tensor raw(const std::string& name) const;
    // Shape check against `expected` (empty = any; -1 = any size in that dim), then conversion to
    // `dtype` (a contiguous copy only if needed). Marks it used. Errors name the full key.
    Tensor get(const std::string& name, const Shape& expected = {}, DType dtype = DType::F32) const;
    // A conv/linear matrix as stored when it is f32/f16/bf16 (the backend converts while it
    // prepares the weight: no model-side f32 copy of an f16 file), else converted to f32. Each call
    // returns a view with its own owner, so the backend's prepared copy (keyed on the owner) is
    // freed with the model that bound it rather than with the file mapping.
    Tensor matrix(const std::string& name, const Shape& expected = {}) const;
    std::vector<std::string> names() const;
    std::vector<std::string> names_with_prefix(const std::string& prefix) const;
    // Keys never fetched since load (minus those in `ignored_prefixes`): mapping bugs show up here.
    std::vector<std::string> unused(const std::vector<std::string>& ignored_prefixes = {}) const;
    // Drops every tensor under prefix (e.g. release the text encoder after encoding).
    void erase_prefix(const std::string& prefix);
    // Gives back the resident file pages of the tensors under prefix (release_file_pages)
    // when a stage is done with them; the tensors stay valid (the next read maps them back).
    // Returns the bytes released.
    size_t release_pages(const std::string& prefix) const;
    size_t size() const { return tensors_.size(); }
    // Where a key came from (file key name), for messages.
    std::string origin(const std::string& name) const;
    // Shape of a key without marking it used (architecture detection); nullopt if absent.
    std::optional<Shape> peek_shape(const std::string& name) const;
    // Free-form facts gathered while loading (file metadata, yaml/config.json values, layout).
    std::map<std::string, std::string> info;

private:
    struct Entry {
        Tensor t;
        std::string origin;
    };
    std::map<std::string, Entry> tensors_;
    mutable std::set<std::string> used_;
    mutable std::mutex mu_;
};

class WeightScope {
public:
    WeightScope(const WeightStore& store, std::string prefix) : store_(&store), prefix_(std::move(prefix)) {}

    WeightScope sub(const std::string& name) const;  // prefix + name + "."
    WeightScope sub(int index) const { return sub(std::to_string(index)); }
    std::string key(const std::string& name) const { return prefix_ + name; }
    const std::string& prefix() const { return prefix_; }
    bool has(const std::string& name) const { return store_->contains(key(name)); }
    // Any key under this scope (prefix + name + ".")?
    bool has_scope(const std::string& name) const;

    // f32 tensors: norms, biases, embeddings.
    Tensor get(const std::string& name, const Shape& expected = {}) const {
        return store_->get(key(name), expected, DType::F32);
    }
    // Matrices for conv/linear, in the file's float dtype (see WeightStore::matrix).
    Tensor matrix(const std::string& name, const Shape& expected = {}) const {
        return store_->matrix(key(name), expected);
    }
    // Shape of a key without marking it used (for architecture detection).
    std::optional<Shape> shape_of(const std::string& name) const;
    // shape_of for a key detection cannot do without: throws "not an SD <model>: missing weight
    // '<key>'" when absent and names the key and its shape when it has not `ndim` dims.
    Shape need_shape(const std::string& name, size_t ndim, const char* model) const;
    const WeightStore& store() const { return *store_; }

private:
    const WeightStore* store_;
    std::string prefix_;
};

}  // namespace sdpp
