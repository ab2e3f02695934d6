// `sdpp tokenize [--vocab PATH] [--model PATH] [--weights] TEXT...`: the CLIP token ids of a prompt
// as a JSON array (open_clip SimpleTokenizer.encode: no start/end, no padding, never truncated), or
// with --weights the A1111 parse, (text, weight) fragments, and the 77-token chunks the text
// encoders get (src/text/prompt_parser.h).
#include "cli/command.h"
#include "core/error.h"
#include "text/bpe.h"
#include "text/prompt_parser.h"

#include <nlohmann/json.hpp>

#include <cstdio>
#include <cstdlib>

namespace sdpp::cli {
namespace {

// A float32 weight as the shortest decimal that reads back to it (1.1f prints as 1.1).
double display(float w) {
    char buf[32];
    for (int digits = 6; digits <= 9; ++digits) {
        std::snprintf(buf, sizeof buf, "%.*g", digits, double(w));
        if (std::strtof(buf, nullptr) == w) break;
    }
    return std::strtod(buf, nullptr);
}

struct Options {
    std::vector<std::string> words;
    std::string vocab;
    std::string model;
    bool weights = false;
    bool no_emphasis = false;
    int pad_id = -1;
};

int run(const Options& o) {
    std::string text;
    for (const std::string& w : o.words) text += (text.empty() ? "" : " ") + w;
    std::string path = text::find_clip_vocab(o.model, o.vocab);
    text::ClipTokenizer tok(text::ClipVocab::load(path));
    nlohmann::ordered_json out;
    if (!o.weights) {
        out = tok.encode(text);
    } else {
        text::ChunkOptions copt;
        copt.emphasis = !o.no_emphasis;
        int32_t pad = o.pad_id >= 0 ? o.pad_id : tok.eot_id();
        text::PromptChunks pc = text::tokenize_prompt(tok, text, pad, copt);
        nlohmann::ordered_json frags = nlohmann::ordered_json::array();
        for (const auto& f : copt.emphasis ? text::parse_prompt_attention(text)
                                           : std::vector<text::WeightedText>{{text, 1.0}})
            frags.push_back({f.text, f.weight});
        nlohmann::ordered_json chunks = nlohmann::ordered_json::array();
        for (const TokenChunk& c : pc.chunks) {
            nlohmann::ordered_json w = nlohmann::ordered_json::array();
            for (float x : c.weights) w.push_back(display(x));
            chunks.push_back({{"ids", c.ids}, {"weights", w}});
        }
        out = {{"fragments", frags}, {"token_count", pc.token_count}, {"chunks", chunks}};
    }
    std::printf("%s\n", out.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace).c_str());
    return kExitOk;
}

CommandRun setup(CLI::App& app) {
    auto o = std::make_shared<Options>();
    app.add_option("text", o->words, "Prompt text (several words are joined with spaces)")->required();
    app.add_option("--vocab", o->vocab,
                   "CLIP vocabulary: bpe_simple_vocab_16e6.txt.gz, or a folder / vocab.json with merges.txt");
    app.add_option("--model", o->model, "Model folder whose diffusers tokenizer/ to use");
    app.add_flag("--weights", o->weights, "Print the A1111 parse (fragments, weights) and the 77-token chunks");
    app.add_flag("--no-emphasis", o->no_emphasis, "With --weights: treat ( ) [ ] as plain text (A1111 emphasis None)");
    app.add_option("--pad-id", o->pad_id, "With --weights: padding id after the end token (default: the end token; 0 for OpenCLIP)")
        ->check(CLI::Range(0, 49407));
    return [o] { return run(*o); };
}

const bool registered = register_command({"tokenize", "Show a prompt's CLIP token ids (and weights / chunks)", setup});

}  // namespace
}  // namespace sdpp::cli
