// load_model (see loader.h): single files (LDM / SGM) and diffusers folders onto the internal
// naming through key_map.h, then detection (detect.h). Hint precedence: user flag > yaml beside
// the file or diffusers config.json > safetensors metadata > family defaults.
#include "model/loader.h"

#include "core/error.h"
#include "core/log.h"
#include "io/ckpt.h"
#include "io/safetensors.h"
#include "model/detect.h"
#include "io/sha256.h"
#include "model/key_map.h"

#include <nlohmann/json.hpp>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <set>

namespace sdpp {

namespace fs = std::filesystem;

namespace {

bool is_pickle_path(const std::string& path) {
    std::string ext = fs::path(path).extension().string();
    for (auto& c : ext) c = char(std::tolower(static_cast<unsigned char>(c)));
    if (ext == ".ckpt" || ext == ".pt" || ext == ".pth" || ext == ".bin") return true;
    // A zip archive (torch.save since 1.6) whatever its name.
    char magic[4] = {};
    if (std::FILE* f = std::fopen(path.c_str(), "rb")) {
        size_t n = std::fread(magic, 1, 4, f);
        std::fclose(f);
        return n == 4 && magic[0] == 'P' && magic[1] == 'K' && magic[2] == 3 && magic[3] == 4;
    }
    return false;
}

// Adds every tensor of `file` through `km` into the model; `tag` prefixes origins ("unet/").
struct Binder {
    explicit Binder(LoadedModel& model) : m(model) {}
    LoadedModel& m;
    std::map<std::string, std::string> origin_of;  // internal -> source key (duplicate check)
    int bound = 0;

    void add(const KeyMap& km, const std::vector<std::pair<std::string, Tensor>>& tensors, const std::string& tag) {
        for (const auto& [name, t] : tensors) {
            const KeyMapping mp = km.map(name);
            const std::string origin = tag + name;
            switch (mp.cls) {
                case KeyClass::Unknown: m.unknown_keys.push_back(origin); continue;
                case KeyClass::Dropped: m.dropped_keys.emplace_back(origin, mp.reason); continue;
                case KeyClass::Bound:
                case KeyClass::Extra: break;
            }
            for (const KeyTarget& tg : mp.targets) {
                auto [it, fresh] = origin_of.emplace(tg.name, origin);
                if (!fresh)
                    throw error("'", it->second, "' and '", origin, "' both map to '", tg.name, "'");
                m.store->add(tg.name, apply_key_op(t, tg.op, origin), origin);
                m.dtypes[tg.name] = t.dtype();
                if (mp.cls == KeyClass::Bound) ++bound;
            }
            // Which naming each text tower came from (SD2 detection, text encoder config).
            if (mp.cls == KeyClass::Bound && !mp.targets.empty()) {
                const std::string& to = mp.targets[0].name;
                const bool open_clip = name.starts_with("cond_stage_model.model.") ||
                                       name.starts_with("conditioner.embedders.0.model.") ||
                                       name.starts_with("conditioner.embedders.1.model.");
                for (const char* te : {"te1", "te2"})
                    if (to.starts_with(std::string(te) + "."))
                        m.store->info[std::string(te) + ".source"] = open_clip ? "open_clip" : "hf";
            }
        }
    }
};

std::vector<std::string> names_of(const std::vector<std::pair<std::string, Tensor>>& tensors) {
    std::vector<std::string> out;
    out.reserve(tensors.size());
    for (auto& [n, t] : tensors) out.push_back(n);
    return out;
}

// Shards listed by a diffusers/transformers "*.index.json" (weight_map: tensor name -> file).
TensorFile read_sharded(const std::string& dir, const std::string& index) {
    std::ifstream is(index);
    auto j = nlohmann::json::parse(is, nullptr, false);
    if (j.is_discarded() || !j.is_object() || !j.contains("weight_map") || !j["weight_map"].is_object())
        throw error(index, ": not a valid sharded-weights index (no weight_map object)");
    std::map<std::string, std::set<std::string>> shards;  // file -> names it should hold
    for (auto& [name, file] : j["weight_map"].items()) {
        if (!file.is_string()) throw error(index, ": weight_map entry '", name, "' is not a file name");
        auto f = file.get<std::string>();
        if (f.find('/') != std::string::npos || f.find("..") != std::string::npos)
            throw error(index, ": shard name '", f, "' leaves the folder");
        shards[f].insert(name);
    }
    TensorFile out;
    for (auto& [file, names] : shards) {
        TensorFile part = read_tensor_file(dir + "/" + file);
        std::set<std::string> seen;
        for (auto& [n, t] : part.tensors)
            if (names.count(n)) {
                seen.insert(n);
                out.tensors.emplace_back(n, t);
            }
        for (auto& n : names)
            if (!seen.count(n)) throw error(index, ": '", n, "' is listed in ", file, " but missing there");
        if (out.metadata.empty()) out.metadata = part.metadata;
    }
    return out;
}

// The weights of one diffusers component folder: a single weights file (plain or .fp16 variant;
// .safetensors preferred, torch.save .bin read by the restricted unpickler) or the shards listed
// by a *.index.json.
TensorFile read_component(const std::string& dir) {
    for (const char* ext : {".safetensors", ".bin"}) {
        for (const char* stem : {"diffusion_pytorch_model", "model", "pytorch_model"}) {
            for (const char* variant : {"", ".fp16"}) {
                const std::string base = dir + "/" + stem + variant + ext;
                if (fs::is_regular_file(base)) return read_tensor_file(base);
                const std::string index = base + ".index.json";
                if (fs::is_regular_file(index)) return read_sharded(dir, index);
            }
        }
    }
    throw error(dir, ": no weights file (diffusion_pytorch_model.safetensors, model.safetensors or .bin)");
}

void note_hint_sources(LoadedModel& m, const ModelHints& h, const std::string& source) {
    auto note = [&](const char* field, bool set) {
        if (set && !m.hint_sources.count(field)) m.hint_sources[field] = source;
    };
    note("unet_heads", h.unet_heads_per_level.has_value() || h.unet_head_channels.has_value());
    note("prediction", h.prediction.has_value());
    note("vae_scaling_factor", h.vae_scaling_factor.has_value());
    note("te1_heads", h.te1_heads.has_value());
    note("te2_heads", h.te2_heads.has_value());
    note("te1_activation", h.te1_activation.has_value());
    note("te2_activation", h.te2_activation.has_value());
}

void add_hints(LoadedModel& m, const ModelHints& h, const std::string& source) {
    note_hint_sources(m, h, source);
    merge_hints(m.hints, h);
}

// Blocks of an SD 2.x OpenCLIP tower's architecture: 24 for the real OpenCLIP-H (1024 wide),
// else what the yaml or sdpp metadata state; 0 = unknown (the key map drops the last present).
int sd2_text_layers(const TensorFile& tf, const std::optional<std::string>& yaml) {
    for (auto& [n, t] : tf.tensors)
        if ((n == "cond_stage_model.model.token_embedding.weight" ||
             n == "conditioner.embedders.0.model.token_embedding.weight") &&
            t.ndim() == 2 && t.dim(1) == 1024)
            return 24;
    if (yaml)
        if (auto n = text_layers_from_ldm_yaml(*yaml)) return *n;
    if (auto it = tf.metadata.find("sdpp.hint.te1_layers"); it != tf.metadata.end()) {
        try {
            return std::stoi(it->second);
        } catch (const std::exception&) {
            throw error("metadata 'sdpp.hint.te1_layers' is not an integer: '", it->second, "'");
        }
    }
    return 0;
}

void load_single_file(LoadedModel& m, Binder& b, const std::string& path, const LoadOptions& opts) {
    TensorFile tf = read_tensor_file(path);
    const auto names = names_of(tf.tensors);
    const KeySource src = detect_single_file_source(names, path);
    m.layout = src == KeySource::SGM ? "sgm" : src == KeySource::LDM ? "ldm" : key_source_name(src);
    m.metadata = tf.metadata;

    std::string yaml = opts.config_path.value_or(fs::path(path).replace_extension(".yaml").string());
    if (opts.config_path && !fs::is_regular_file(yaml)) throw error(yaml, ": config file not found");
    if (fs::is_regular_file(yaml)) {
        add_hints(m, hints_from_ldm_yaml(yaml), "yaml " + yaml);
        m.config_file = yaml;
    }
    const bool v_marker = std::find(names.begin(), names.end(), "v_pred") != names.end();
    add_hints(m, hints_from_metadata(tf.metadata, v_marker), "metadata");

    KeyMap km(src, names);
    if (int n = sd2_text_layers(tf, m.config_file)) km.set_sd2_text_layers(n);
    b.add(km, tf.tensors, "");
}

void load_diffusers(LoadedModel& m, Binder& b, const std::string& dir) {
    m.layout = "diffusers";
    if (!fs::is_directory(dir + "/unet"))
        throw error(dir, ": not a diffusers pipeline folder (no unet/ subfolder)");
    const std::pair<const char*, KeySource> parts[] = {{"unet", KeySource::DiffusersUNet},
                                                       {"vae", KeySource::DiffusersVAE},
                                                       {"text_encoder", KeySource::DiffusersTextEncoder},
                                                       {"text_encoder_2", KeySource::DiffusersTextEncoder2}};
    for (auto [sub, src] : parts) {
        const std::string d = dir + "/" + sub;
        if (!fs::is_directory(d)) continue;
        TensorFile tf = read_component(d);
        b.add(KeyMap(src, names_of(tf.tensors)), tf.tensors, std::string(sub) + "/");
        if (src == KeySource::DiffusersUNet) m.metadata = tf.metadata;
    }
    if (fs::is_directory(dir + "/tokenizer")) m.tokenizer_dir = dir + "/tokenizer";
    if (fs::is_directory(dir + "/tokenizer_2")) m.tokenizer_2_dir = dir + "/tokenizer_2";
    add_hints(m, hints_from_diffusers(dir), "config.json");
    add_hints(m, hints_from_metadata(m.metadata, false), "metadata");
}

void load_vae_override(LoadedModel& m, const std::string& path) {
    TensorFile tf;
    KeySource src;
    if (fs::is_directory(path)) {
        tf = read_component(path);
        src = KeySource::DiffusersVAE;
    } else {
        tf = read_tensor_file(path);
        src = detect_vae_file_source(names_of(tf.tensors), path);
    }
    // Bind into a scratch model first so a bad file leaves the checkpoint's VAE untouched.
    LoadedModel v;
    v.store = std::make_unique<WeightStore>();
    Binder vb(v);
    vb.add(KeyMap(src, names_of(tf.tensors)), tf.tensors, "");
    if (v.store->names_with_prefix("first_stage_model.decoder.").empty())
        throw error(path, ": no VAE decoder weights found");
    m.store->erase_prefix("first_stage_model.");
    for (auto it = m.dtypes.begin(); it != m.dtypes.end();)
        it = it->first.starts_with("first_stage_model.") ? m.dtypes.erase(it) : std::next(it);
    for (const auto& n : v.store->names()) {
        m.store->add(n, v.store->raw(n), path + ": " + v.store->origin(n));
        m.dtypes[n] = v.dtypes[n];
    }
    for (auto& k : v.unknown_keys) m.unknown_keys.push_back(path + ": " + k);
    for (auto& [k, r] : v.dropped_keys) m.dropped_keys.emplace_back(path + ": " + k, r);
    m.store->info["vae.source"] = path;
    m.vae_file = path;
}

}  // namespace

TensorFile read_tensor_file(const std::string& path) {
    if (!fs::exists(path)) throw error(path, ": no such file");
    if (fs::is_directory(path)) throw error(path, ": is a folder, expected a weights file");
    if (is_pickle_path(path)) {
        // torch.save zip archive, read by the restricted unpickler (nothing is executed); the
        // "state_dict" nesting of most SD checkpoints is undone there.
        CkptFile c = CkptFile::open(path);
        return TensorFile{c.tensors(), {}};
    }
    SafetensorsFile f = SafetensorsFile::open(path);
    TensorFile out;
    out.metadata = f.metadata();
    out.tensors.reserve(f.entries().size());
    for (const auto& e : f.entries()) out.tensors.emplace_back(e.name, f.get(e));
    return out;
}

LoadedModel load_model(const std::string& path, const LoadOptions& opts) {
    LoadedModel m;
    m.store = std::make_unique<WeightStore>();
    m.path = path;
    if (opts.prediction) {
        ModelHints flag;
        flag.prediction = opts.prediction;
        add_hints(m, flag, "flag");
    }
    Binder b(m);
    if (!fs::exists(path)) throw error(path, ": no such file or folder");
    if (fs::is_directory(path)) load_diffusers(m, b, path);
    else load_single_file(m, b, path, opts);
    if (b.bound == 0) throw error(path, ": no model weights recognised");
    if (opts.vae_path) load_vae_override(m, *opts.vae_path);

    m.family = detect_family(*m.store, m.hints);
    m.inpaint = detect_inpaint(*m.store);
    ModelHints before = m.hints;
    apply_family_defaults(m.hints, m.family, *m.store);
    ModelHints defaults;  // only the fields the defaults filled
    if (!before.unet_heads_per_level && !before.unet_head_channels) {
        defaults.unet_heads_per_level = m.hints.unet_heads_per_level;
        defaults.unet_head_channels = m.hints.unet_head_channels;
    }
    if (!before.prediction) defaults.prediction = m.hints.prediction;
    if (!before.vae_scaling_factor) defaults.vae_scaling_factor = m.hints.vae_scaling_factor;
    if (!before.te1_heads) defaults.te1_heads = m.hints.te1_heads;
    if (!before.te2_heads) defaults.te2_heads = m.hints.te2_heads;
    if (!before.te1_activation) defaults.te1_activation = m.hints.te1_activation;
    if (!before.te2_activation) defaults.te2_activation = m.hints.te2_activation;
    note_hint_sources(m, defaults, "default");

    // SD 2.x: te1 holds the blocks SD 2.x runs; its architecture's last block is not stored
    // (key_map.h), so "penultimate" is te1's last stored block.
    if (m.family == Family::SD2 && !m.store->names_with_prefix("te1.").empty()) m.store->info["te1.dropped_blocks"] = "1";
    m.ignorable_prefixes = {kExtraPrefix};
    m.store->info["layout"] = m.layout;
    m.store->info["family"] = family_name(m.family);
    m.store->info["prediction"] = prediction_name(m.prediction());
    if (!m.unknown_keys.empty()) {
        std::string first;
        for (size_t i = 0; i < std::min<size_t>(3, m.unknown_keys.size()); ++i)
            first += (i ? ", " : "") + m.unknown_keys[i];
        log_warn(path, ": ", m.unknown_keys.size(), " unrecognised tensor(s) not used: ", first,
                 m.unknown_keys.size() > 3 ? ", ..." : "");
    }
    return m;
}

std::optional<std::string> LoadedModel::file_sha256() const {
    if (fs::is_directory(path)) return std::nullopt;
    if (!sha256_) sha256_ = sha256_file(path);
    return sha256_;
}

}  // namespace sdpp
