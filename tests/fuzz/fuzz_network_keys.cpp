// libFuzzer target: the LoRA / LyCORIS network key parser (src/model/lora_keys.cpp) on arbitrary
// names. The input is a safetensors file when it parses as one (every tensor name goes through the
// parser, as read_network_file does), else newline-separated names. Each name is split into
// module + part, its underscore path rebuilt, and mapped onto a small SD-shaped model's weights
// (diffusers, SGM and HF text-encoder forms). Invariants: a split never loses characters, and a
// mapped key is one of the model's.
#include "io/safetensors.h"
#include "model/lora_keys.h"

#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <vector>

namespace {

const std::vector<std::string>& model_keys() {
    static const std::vector<std::string> keys = [] {
        std::vector<std::string> k;
        const std::string P = "model.diffusion_model.";
        for (int i = 1; i <= 5; ++i) {
            k.push_back(P + "input_blocks." + std::to_string(i) + ".0.in_layers.2.weight");
            k.push_back(P + "input_blocks." + std::to_string(i) + ".1.transformer_blocks.0.attn1.to_q.weight");
        }
        k.push_back(P + "input_blocks.3.0.op.weight");
        k.push_back(P + "middle_block.1.proj_in.weight");
        for (int i = 0; i < 6; ++i) {
            k.push_back(P + "output_blocks." + std::to_string(i) + ".0.skip_connection.weight");
            k.push_back(P + "output_blocks." + std::to_string(i) + ".1.norm.weight");
        }
        k.push_back(P + "output_blocks.2.2.conv.weight");
        for (const char* te : {"te1.", "te2."})
            for (int l = 0; l < 2; ++l)
                for (const char* m : {"self_attn.q_proj", "self_attn.out_proj", "mlp.fc1", "mlp.fc2"})
                    k.push_back(std::string(te) + "text_model.encoder.layers." + std::to_string(l) + "." + m + ".weight");
        return k;
    }();
    return keys;
}

void check_name(const sdpp::NetworkKeyMapper& mapper, const std::string& name) {
    const sdpp::NetKey k = sdpp::split_network_key(name);
    if (k.part != sdpp::NetPart::Unknown && (k.module.empty() || !name.starts_with(k.module))) abort();
    if (k.part == sdpp::NetPart::Unknown && k.module != name) abort();
    const std::string dotted = sdpp::dotted_module_path(k.module);
    if (std::count(dotted.begin(), dotted.end(), '.') > std::count(k.module.begin(), k.module.end(), '_') +
                                                             std::count(k.module.begin(), k.module.end(), '.'))
        abort();
    if (auto t = mapper.map(k.module)) {
        const auto& keys = model_keys();
        if (std::find(keys.begin(), keys.end(), t->key) == keys.end()) abort();
    }
    (void)mapper.map_unchecked(k.module);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    static const sdpp::NetworkKeyMapper mapper(model_keys());
    const auto* p = reinterpret_cast<const std::byte*>(data);
    try {
        sdpp::SafetensorsHeader h = sdpp::parse_safetensors_header(p, size);
        for (const auto& e : h.entries) check_name(mapper, e.name);
        return 0;
    } catch (const sdpp::Error&) {
    }
    std::string text(reinterpret_cast<const char*>(data), size);
    size_t start = 0;
    while (start <= text.size()) {
        size_t nl = text.find('\n', start);
        check_name(mapper, text.substr(start, nl == std::string::npos ? std::string::npos : nl - start));
        if (nl == std::string::npos) break;
        start = nl + 1;
    }
    return 0;
}
