// Writes seed corpora for the fuzzers into <out>/<target>/: small valid safetensors files,
// torch.save-format pickles and checkpoints (tests/common/ckpt_writer), and a few near-misses.
#include "common/ckpt_writer.h"
#include "io/base64.h"
#include "io/image.h"
#include "io/safetensors.h"

#include <cstdio>
#include <filesystem>
#include <fstream>

namespace fs = std::filesystem;
using namespace sdpp;
using namespace sdpp::testing;

namespace {

void put(const fs::path& dir, const std::string& name, const std::string& bytes) {
    fs::create_directories(dir);
    std::ofstream(dir / name, std::ios::binary).write(bytes.data(), std::streamsize(bytes.size()));
}

std::string slurp(const fs::path& p) {
    std::ifstream f(p, std::ios::binary);
    return std::string(std::istreambuf_iterator<char>(f), {});
}

CkptSpec spec(int variant) {
    CkptSpec s;
    const std::vector<float> v = {0.5f, -1.f, 2.f, 3.f, 4.f, 5.f, 6.f, 7.f, 8.f, 9.f, 10.f, 11.f};
    const DType dts[] = {DType::F32, DType::F16, DType::BF16};
    const DType dt = dts[variant % 3];
    s.storages["0"] = storage_bytes(v, dt);
    s.storages["1"] = storage_bytes({1.f, 2.f}, DType::F32);
    auto add = [&](const std::string& name, DType d, const std::string& key, int64_t numel, int64_t off, Shape size,
                   std::vector<int64_t> stride, bool param) {
        CkptTensor t;
        t.name = name;
        t.dtype = d;
        t.storage_key = key;
        t.storage_numel = numel;
        t.offset = off;
        t.size = std::move(size);
        t.stride = std::move(stride);
        t.parameter = param;
        s.tensors.push_back(t);
    };
    add("model.diffusion_model.input_blocks.0.0.weight", dt, "0", 12, 0, {3, 4}, {}, false);
    add("model.diffusion_model.input_blocks.0.0.bias", dt, "0", 12, 2, {2, 3}, {1, 2}, variant % 2 == 1);
    add("first_stage_model.quant_conv.bias", DType::F32, "1", 2, 0, {2}, {}, false);
    add("cond_stage_model.transformer.text_model.embeddings.position_ids", DType::F32, "1", 2, 0, {1, 4}, {0, 0},
        false);
    if (variant >= 1) s.nesting = "state_dict";
    if (variant >= 2) s.lightning_extras = true;
    if (variant == 3) s.compress = true;
    if (variant == 4) s.align = false;
    if (variant == 5) s.archive = "model";
    return s;
}

}  // namespace

int main(int argc, char** argv) {
    if (argc != 2) {
        std::fprintf(stderr, "usage: %s OUT_DIR\n", argv[0]);
        return 2;
    }
    const fs::path out = argv[1];
    const fs::path tmp = out / "tmp";
    fs::create_directories(tmp);

    // safetensors headers (whole small files).
    const Tensor a = Tensor::from_vector(std::vector<float>{1, 2, 3, 4, 5, 6}, {2, 3});
    save_safetensors((tmp / "a.safetensors").string(), {{"a", a}, {"b", a.to(DType::F16)}, {"c", a.to(DType::BF16)}},
                     {{"format", "pt"}});
    put(out / "fuzz_safetensors_header", "seed_0", slurp(tmp / "a.safetensors"));
    save_safetensors((tmp / "b.safetensors").string(), {{"x", Tensor::empty({0})}, {"y", Tensor::zeros({1, 1, 1, 2})}});
    put(out / "fuzz_safetensors_header", "seed_1", slurp(tmp / "b.safetensors"));
    const std::string h = R"({"__metadata__":{"k":"v"},"w":{"dtype":"I64","shape":[1],"data_offsets":[0,8]}})";
    std::string f(8, '\0');
    f[0] = char(h.size());
    put(out / "fuzz_safetensors_header", "seed_2", f + h + std::string(8, '\1'));

    // pickles and checkpoints.
    for (int v = 0; v < 6; ++v) {
        const CkptSpec s = spec(v);
        put(out / "fuzz_unpickle", "seed_" + std::to_string(v), ckpt_pickle(s));
        const fs::path p = tmp / ("c" + std::to_string(v) + ".ckpt");
        write_ckpt(p.string(), s);
        put(out / "fuzz_ckpt_zip", "seed_" + std::to_string(v), std::string(1, '\0') + slurp(p));
        // The structured form: mode byte, pickle length, pickle, four 48-byte storage parts.
        const std::string pkl = ckpt_pickle(s);
        std::string st = std::string(1, char(v == 4 ? 3 : 1)) + char(pkl.size() & 0xff) + char(pkl.size() >> 8) + pkl;
        for (const char* k : {"0", "1"}) st += s.storages.at(k) + std::string(48 - s.storages.at(k).size(), '\0');
        st += std::string(96, '\x3c');
        put(out / "fuzz_ckpt_zip", "struct_" + std::to_string(v), st);
    }
    PickleWriter w;
    w.proto(4).op('\x95').raw(std::string(8, '\0')).op('(').str("a").integer(-5).binfloat(1.5).none();
    w.boolean(true).op(']').op(')').op('\x8f').mark().integer(1).op('\x90').tuple(7).stop();
    put(out / "fuzz_unpickle", "seed_misc", w.bytes());
    // textual-inversion embeddings: A1111 .pt (string_to_param), safetensors emb_params, SDXL.
    {
        CkptSpec e;
        e.nesting = "string_to_param";
        CkptTensor t;
        t.name = "*";
        t.storage_key = "0";
        t.storage_numel = 8;
        t.size = {2, 4};
        t.parameter = true;
        e.tensors.push_back(t);
        e.storages["0"] = storage_bytes({0.1f, 0.2f, 0.3f, 0.4f, 0.5f, 0.6f, 0.7f, 0.8f}, DType::F32);
        write_ckpt((tmp / "e.pt").string(), e);
        put(out / "fuzz_embedding_file", "seed_pt", slurp(tmp / "e.pt"));
        save_safetensors((tmp / "e.safetensors").string(), {{"emb_params", a.to(DType::F16)}});
        put(out / "fuzz_embedding_file", "seed_emb_params", slurp(tmp / "e.safetensors"));
        save_safetensors((tmp / "x.safetensors").string(), {{"clip_g", a}, {"clip_l", a.slice(1, 0, 2).contiguous()}});
        put(out / "fuzz_embedding_file", "seed_sdxl", slurp(tmp / "x.safetensors"));
    }
    // network key names: a small kohya file and plain name lists.
    const Tensor d = Tensor::zeros({4, 16});
    save_safetensors((tmp / "n.safetensors").string(),
                     {{"lora_unet_down_blocks_0_attentions_0_transformer_blocks_0_attn1_to_q.lora_down.weight", d},
                      {"lora_unet_input_blocks_4_1_proj_in.lora_up.weight", d},
                      {"lora_te2_text_model_encoder_layers_0_self_attn_q_proj.alpha", Tensor::zeros({1})}});
    put(out / "fuzz_network_keys", "seed_0", slurp(tmp / "n.safetensors"));
    put(out / "fuzz_network_keys", "seed_1",
        "lora_te_text_model_encoder_layers_0_mlp_fc1.lora_down.weight\n"
        "unet.down_blocks.0.resnets.1.conv1.lora_A.weight\n"
        "text_encoder_2.text_model.encoder.layers.1.self_attn.out_proj.lora_B.weight\n"
        "lora_unet_output_blocks_2_2_conv.lokr_w2_b\nlora_unet_mid_block_attentions_0_proj_out.hada_w1_a\n");
    // Inputs that once crashed a target (regressions).
    put(out / "fuzz_ckpt_zip", "regress_empty_zip", "\x86");  // empty zip: memcpy from a null buffer in the harness

    // Server request bodies: first byte 0 txt2img, 1 img2img, 2 OpenAI images.
    const std::vector<uint8_t> png = encode_png(Image::blank(16, 16, 3, 100));
    const std::string png64 = base64_encode(png.data(), png.size());
    const std::string a1111 = "fuzz_a1111_request";
    put(out / a1111, "txt2img", std::string(1, '\0') +
        R"({"prompt":"a cat","negative_prompt":"dog","seed":-1,"steps":4,"width":64,"height":64,"cfg_scale":7,)"
        R"("sampler_name":"DPM++ 2M Karras","batch_size":2,"n_iter":1,"restore_faces":false,"enable_hr":true,)"
        R"("hr_scale":2,"override_settings":{"sd_model_checkpoint":"x","CLIP_stop_at_last_layers":2},"send_images":true})");
    put(out / a1111, "img2img", std::string(1, '\1') + R"({"prompt":"p","init_images":[")" + png64 +
        R"("],"mask":"data:image/png;base64,)" + png64 + R"(","inpainting_fill":1,"denoising_strength":0.5,)"
        R"("mask_blur_x":3,"mask_blur_y":3,"inpaint_full_res":false,"resize_mode":1})");
    put(out / a1111, "regress_number_overflow", std::string(1, '\1') + "2222221e308");  // out_of_range, not parse_error
    put(out / a1111, "openai", std::string(1, '\2') + R"({"prompt":"a cat","n":2,"size":"64x64","response_format":"b64_json"})");
    fs::remove_all(tmp);
    return 0;
}
