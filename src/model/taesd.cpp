// TAESD / TAESDXL (see taesd.h): the blocks, the walk over the nn.Sequential indices that binds
// them, and the loader for the original files and the diffusers AutoencoderTiny folder.
// Mirrors madebyollin/taesd taesd.py (Block, Encoder, Decoder, Clamp) and diffusers v0.30.3
// scripts/convert_tiny_autoencoder_to_diffusers.py (the key map).
#include "model/taesd.h"

#include "core/error.h"
#include "model/loader.h"

#include <algorithm>
#include <filesystem>
#include <map>
#include <set>

namespace sdpp {

namespace fs = std::filesystem;

// ---- blocks ----------------------------------------------------------------------------------

TAESDBlock TAESDBlock::load(const WeightScope& w) {
    TAESDBlock b;
    b.conv0 = Conv2d::load(w.sub("conv").sub(0), {-1, -1, 3, 3});
    const int64_t cout = b.conv0.out_channels(), cin = b.conv0.in_channels();
    b.conv2 = Conv2d::load(w.sub("conv").sub(2), {cout, cout, 3, 3});
    b.conv4 = Conv2d::load(w.sub("conv").sub(4), {cout, cout, 3, 3});
    if (w.has("skip.weight")) b.skip = Conv2d::load(w.sub("skip"), {cout, cin, 1, 1}, 1, 0, false);
    else if (cin != cout) throw error("TAESD block ", w.prefix(), ": ", cin, " -> ", cout, " channels but no skip conv");
    return b;
}

// The activations stay channels-last (ops.h) from the first conv to the last: no layout change
// around the 64-channel convolutions. The block's end, ReLU(conv(h) + skip(x)), is one convolution
// adding into a copy of the skip path.
Tensor TAESDBlock::forward(Ctx& ctx, const Tensor& x) const {
    Tensor h = conv2d_cl(ctx, x, conv0.weight, conv0.bias, 1, 1, Act::ReLU);
    h = conv2d_cl(ctx, h, conv2.weight, conv2.bias, 1, 1, Act::ReLU);
    Tensor y;
    if (skip) {
        y = conv2d_cl(ctx, x, skip->weight, Tensor(), 1, 0, Act::None);
    } else {
        y = empty_channels_last(ctx, x.shape());
        if (is_channels_last(x)) copy_into(ctx, y.permute({0, 2, 3, 1}), x.permute({0, 2, 3, 1}));  // NHWC: a flat copy
        else copy_into(ctx, y, x);
    }
    conv2d_add_relu(ctx, h, conv4.weight, conv4.bias, 1, 1, y);  // fuse = ReLU(conv(h) + skip(x))
    return y;
}

namespace {

// The top-level nn.Sequential indices present under `w` ("taesd.encoder."), ascending.
std::vector<int> sequential_indices(const WeightScope& w) {
    std::set<int> idx;
    for (const std::string& n : w.store().names_with_prefix(w.prefix())) {
        const std::string rest = n.substr(w.prefix().size());
        const size_t dot = rest.find('.');
        const std::string head = rest.substr(0, dot);
        if (head.empty() || !std::all_of(head.begin(), head.end(), ::isdigit) || head.size() > 4)
            throw error("TAESD: unexpected key '", n, "'");
        idx.insert(std::stoi(head));
    }
    return {idx.begin(), idx.end()};
}

bool is_block(const WeightScope& w, int i) { return w.has(std::to_string(i) + ".conv.0.weight"); }
bool is_conv(const WeightScope& w, int i) { return w.has(std::to_string(i) + ".weight"); }

}  // namespace

// Encoder: 0 conv, then stages (a stage opens with a stride-2 conv without bias, except the first),
// the last index the output conv.
TAESDEncoder TAESDEncoder::load(const WeightScope& w) {
    const std::vector<int> idx = sequential_indices(w);
    if (idx.size() < 3 || idx.front() != 0 || !is_conv(w, 0) || !is_conv(w, idx.back()))
        throw Error("not a TAESD encoder: expected '0.weight', blocks and an output conv");
    TAESDEncoder e;
    e.conv_in = Conv2d::load(w.sub(0), {-1, 3, 3, 3});
    for (size_t k = 1; k + 1 < idx.size(); ++k) {
        const int i = idx[k];
        if (is_block(w, i)) {
            if (e.stages.empty()) e.stages.emplace_back();
            e.stages.back().blocks.push_back(TAESDBlock::load(w.sub(i)));
        } else if (is_conv(w, i)) {
            Stage s;
            s.down = Conv2d::load(w.sub(i), {-1, -1, 3, 3}, 2, 1, false);
            e.stages.push_back(std::move(s));
        } else {
            throw error("TAESD encoder: layer ", i, " is neither a conv nor a block");
        }
    }
    e.conv_out = Conv2d::load(w.sub(idx.back()), {-1, -1, 3, 3});
    return e;
}

Tensor TAESDEncoder::forward(Ctx& ctx, const Tensor& image01) const {
    SDPP_CHECK(image01.ndim() == 4 && image01.dim(1) == 3, "TAESD encoder: image ", image01.shape_str(),
               " must be [N, 3, H, W]");
    Tensor h = conv2d_cl(ctx, image01, conv_in.weight, conv_in.bias, 1, 1, Act::None);
    for (const Stage& s : stages) {
        if (s.down) h = conv2d_cl(ctx, h, s.down->weight, Tensor(), 2, 1, Act::None);
        for (const TAESDBlock& b : s.blocks) h = b.forward(ctx, h);
    }
    return conv_out(ctx, h);
}

// Decoder: 0 Clamp (no parameters), 1 conv, 2 ReLU, then stages (blocks; an Upsample index without
// parameters, then a conv without bias opens the next stage), the last index the output conv.
TAESDDecoder TAESDDecoder::load(const WeightScope& w) {
    const std::vector<int> idx = sequential_indices(w);
    if (idx.size() < 3 || idx.front() != 1 || !is_conv(w, 1) || !is_conv(w, idx.back()))
        throw Error("not a TAESD decoder: expected '1.weight', blocks and an output conv");
    TAESDDecoder d;
    d.conv_in = Conv2d::load(w.sub(1), {-1, -1, 3, 3});
    for (size_t k = 1; k + 1 < idx.size(); ++k) {
        const int i = idx[k];
        if (is_block(w, i)) {
            if (d.stages.empty()) d.stages.emplace_back();
            d.stages.back().blocks.push_back(TAESDBlock::load(w.sub(i)));
        } else if (is_conv(w, i)) {
            Stage s;
            s.up_conv = Conv2d::load(w.sub(i), {-1, -1, 3, 3}, 1, 1, false);
            d.stages.push_back(std::move(s));
        } else {
            throw error("TAESD decoder: layer ", i, " is neither a conv nor a block");
        }
    }
    d.conv_out = Conv2d::load(w.sub(idx.back()), {3, -1, 3, 3});
    if (d.stages.empty()) throw Error("not a TAESD decoder: no blocks");
    return d;
}

Tensor TAESDDecoder::forward(Ctx& ctx, const Tensor& latent) const {
    SDPP_CHECK(latent.ndim() == 4 && latent.dim(1) == latent_channels(), "TAESD decoder: latent ",
               latent.shape_str(), " must be [N, ", latent_channels(), ", h, w]");
    Tensor h = scale(ctx, tanh_act(ctx, scale(ctx, latent, 1.0f / 3.0f)), 3.0f);  // Clamp: tanh(x / 3) * 3
    h = conv2d_cl(ctx, h, conv_in.weight, conv_in.bias, 1, 1, Act::ReLU);
    for (const Stage& s : stages) {
        if (s.up_conv) h = conv2d_cl(ctx, upsample_nearest2x(ctx, h), s.up_conv->weight, Tensor(), 1, 1, Act::None);
        for (const TAESDBlock& b : s.blocks) h = b.forward(ctx, h);
    }
    return conv_out(ctx, h);
}

// ---- key map ---------------------------------------------------------------------------------

std::string taesd_internal_key(const std::string& key, const std::string& part) {
    if (part == "encoder" || part == "decoder") {  // original nn.Sequential keys: "<i>.<rest>"
        const size_t dot = key.find('.');
        if (dot == 0 || dot == std::string::npos || dot > 4) return "";
        if (!std::all_of(key.begin(), key.begin() + long(dot), ::isdigit)) return "";
        return "taesd." + part + "." + key;
    }
    // diffusers AutoencoderTiny: encoder.layers.<i>.* (same i), decoder.layers.<i-1>.*
    for (const char* p : {"encoder", "decoder"}) {
        const std::string pre = std::string(p) + ".layers.";
        if (key.rfind(pre, 0) != 0) continue;
        const std::string rest = key.substr(pre.size());
        const size_t dot = rest.find('.');
        if (dot == 0 || dot == std::string::npos || dot > 4) return "";
        if (!std::all_of(rest.begin(), rest.begin() + long(dot), ::isdigit)) return "";
        int i = std::stoi(rest.substr(0, dot));
        if (std::string(p) == "decoder") ++i;
        return "taesd." + std::string(p) + "." + std::to_string(i) + rest.substr(dot);
    }
    return "";
}

// ---- loading ---------------------------------------------------------------------------------

namespace {

// One weights file into `store` under the internal names; returns how many keys it had.
void add_file(WeightStore& store, const std::string& file, const std::string& part) {
    TensorFile tf = read_tensor_file(file);
    if (tf.tensors.empty()) throw error(file, ": no tensors (not a TAESD file)");
    for (auto& [k, t] : tf.tensors) {
        const std::string name = taesd_internal_key(k, part);
        if (name.empty())
            throw error(file, ": not a TAESD ", part.empty() ? "(AutoencoderTiny)" : part.c_str(), " file (unexpected key '",
                        k, "')");
        if (store.contains(name)) throw error(file, ": key '", k, "' appears twice");
        store.add(name, t, file + ":" + k);
    }
}

// "encoder" / "decoder" of an original file, from its keys (the decoder has no index 0: the Clamp).
std::string original_part(const std::string& file) {
    TensorFile tf = read_tensor_file(file);
    bool has0 = false, has1 = false, diffusers = false;
    for (auto& [k, t] : tf.tensors) {
        has0 = has0 || k.rfind("0.", 0) == 0;
        has1 = has1 || k.rfind("1.", 0) == 0;
        diffusers = diffusers || k.rfind("encoder.layers.", 0) == 0 || k.rfind("decoder.layers.", 0) == 0;
    }
    if (diffusers) return "";
    if (has0) return "encoder";
    if (has1) return "decoder";
    throw error(file, ": not a TAESD file (expected the keys of taesd_encoder / taesd_decoder or AutoencoderTiny)");
}

// The other half of an original file: ".../taesd_decoder.safetensors" <-> ".../taesd_encoder.safetensors".
std::optional<std::string> sibling(const std::string& file, const std::string& part) {
    const std::string other = part == "decoder" ? "encoder" : "decoder";
    fs::path p(file);
    std::string name = p.filename().string();
    const size_t at = name.rfind(part);
    if (at == std::string::npos) return std::nullopt;
    name.replace(at, part.size(), other);
    fs::path s = p.parent_path() / name;
    std::error_code ec;
    if (fs::is_regular_file(s, ec)) return s.string();
    return std::nullopt;
}

// An original-layout folder: <prefix>_decoder.* and/or <prefix>_encoder.* for one prefix.
std::vector<std::string> folder_files(const std::string& dir, const std::string& family) {
    std::map<std::string, std::vector<std::string>> by_prefix;  // "taesd" -> files
    for (const auto& e : fs::directory_iterator(dir)) {
        if (!e.is_regular_file()) continue;
        const std::string name = e.path().filename().string();
        const std::string ext = e.path().extension().string();
        if (ext != ".safetensors" && ext != ".pth" && ext != ".pt" && ext != ".ckpt") continue;
        const std::string stem = e.path().stem().string();
        for (const char* part : {"_decoder", "_encoder"})
            if (stem.size() > 8 && stem.compare(stem.size() - 8, 8, part) == 0)
                by_prefix[stem.substr(0, stem.size() - 8)].push_back(e.path().string());
    }
    if (by_prefix.empty())
        throw error(dir, ": no TAESD weights (diffusers config.json + diffusion_pytorch_model.safetensors, or "
                         "taesd_decoder.safetensors)");
    if (by_prefix.size() == 1) return by_prefix.begin()->second;
    const std::string want = family.rfind("sdxl", 0) == 0 ? "taesdxl" : "taesd";
    if (auto it = by_prefix.find(want); it != by_prefix.end()) return it->second;
    std::string names;
    for (auto& [k, v] : by_prefix) names += (names.empty() ? "" : ", ") + k;
    throw error(dir, ": several TAESD models (", names, "); pass the file");
}

}  // namespace

TAESD TAESD::load(const std::string& path, const std::string& family) {
    std::error_code ec;
    if (path.empty()) throw Error("TAESD: no path given");
    if (!fs::exists(path, ec)) throw error("TAESD ", path, ": no such file or folder");
    auto store = std::make_shared<WeightStore>();
    if (fs::is_directory(path, ec)) {
        const bool diffusers = fs::is_regular_file(fs::path(path) / "config.json", ec);
        std::string weights;
        for (const char* f : {"diffusion_pytorch_model.safetensors", "diffusion_pytorch_model.fp16.safetensors",
                              "diffusion_pytorch_model.bin"})
            if (fs::is_regular_file(fs::path(path) / f, ec)) {
                weights = (fs::path(path) / f).string();
                break;
            }
        if (diffusers && !weights.empty()) {
            add_file(*store, weights, "");
        } else {
            for (const std::string& f : folder_files(path, family)) add_file(*store, f, original_part(f));
        }
    } else {
        const std::string part = original_part(path);
        add_file(*store, path, part);
        if (!part.empty())
            if (auto s = sibling(path, part); s && original_part(*s) != part) add_file(*store, *s, original_part(*s));
    }
    try {
        return from_store(std::move(store), path);
    } catch (const Error& e) {
        throw error("TAESD ", path, ": ", e.what());
    }
}

TAESD TAESD::from_store(std::shared_ptr<const WeightStore> store, const std::string& path) {
    TAESD t;
    t.path = path;
    const WeightStore& s = *store;
    if (!s.names_with_prefix("taesd.encoder.").empty()) t.encoder = TAESDEncoder::load(WeightScope(s, "taesd.encoder."));
    if (!s.names_with_prefix("taesd.decoder.").empty()) t.decoder = TAESDDecoder::load(WeightScope(s, "taesd.decoder."));
    if (!t.encoder && !t.decoder) throw Error("no TAESD encoder or decoder weights");
    if (t.encoder && t.decoder && t.encoder->latent_channels() != t.decoder->latent_channels())
        throw error("encoder makes ", t.encoder->latent_channels(), "-channel latents but the decoder takes ",
                    t.decoder->latent_channels());
    const std::vector<std::string> unused = s.unused();
    if (!unused.empty()) throw error("unexpected key '", s.origin(unused.front()), "' (not part of TAESD)");
    t.store = std::move(store);
    return t;
}

int64_t TAESD::latent_channels() const {
    return decoder ? decoder->latent_channels() : encoder->latent_channels();
}

Tensor TAESD::decode(Ctx& ctx, const Tensor& latent) const {
    if (!decoder) throw error("TAESD ", path, ": no decoder weights (taesd_decoder.safetensors)");
    return decoder->forward(ctx, latent);
}

Tensor TAESD::decode_pm1(Ctx& ctx, const Tensor& latent) const { return scale(ctx, decode(ctx, latent), 2.0f, -1.0f); }

Tensor TAESD::encode(Ctx& ctx, const Tensor& image01) const {
    if (!encoder) throw error("TAESD ", path, ": no encoder weights (taesd_encoder.safetensors)");
    return encoder->forward(ctx, image01);
}

}  // namespace sdpp
