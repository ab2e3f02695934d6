// Loading CLIP's BPE vocabulary, in the two forms people have on disk:
//   bpe_simple_vocab_16e6.txt.gz   open_clip / OpenAI CLIP (tokenizer.py SimpleTokenizer.__init__:
//                                  merges = lines[1 : 49152 - 256 - 2 + 1]; vocab = 256 byte symbols,
//                                  the same with '</w>', one entry per merge, then the 2 specials)
//   vocab.json + merges.txt        HF CLIPTokenizer / diffusers tokenizer/ folder (same merge slice)
// and finding a user's copy (find_clip_vocab). Nothing of the vocabulary is compiled in.
#include "text/bpe.h"

#include "core/cache_root.h"
#include "core/error.h"
#include "text/unicode.h"

#include <nlohmann/json.hpp>
#include <zlib.h>

#include <filesystem>
#include <fstream>
#include <sstream>

namespace sdpp::text {
namespace fs = std::filesystem;
namespace {

constexpr int kNumMerges = 49152 - 256 - 2;  // 48894, as both reference loaders slice it

std::string read_gzip(const std::string& path) {
    gzFile f = gzopen(path.c_str(), "rb");
    if (!f) throw error("CLIP vocabulary ", path, ": cannot open");
    std::string out;
    char buf[1 << 16];
    while (true) {
        int n = gzread(f, buf, sizeof buf);
        if (n < 0) {
            int code = 0;
            std::string msg = gzerror(f, &code);
            gzclose(f);
            throw error("CLIP vocabulary ", path, ": corrupt gzip data (", msg, ")");
        }
        if (n == 0) break;
        out.append(buf, size_t(n));
        if (out.size() > (size_t(64) << 20)) {
            gzclose(f);
            throw error("CLIP vocabulary ", path, ": larger than 64 MiB, not a BPE merges file");
        }
    }
    int rc = gzclose(f);
    if (rc != Z_OK) throw error("CLIP vocabulary ", path, ": corrupt or truncated gzip data");
    return out;
}

std::string read_file(const std::string& path) {
    std::ifstream is(path, std::ios::binary);
    if (!is) throw error("CLIP vocabulary ", path, ": cannot open");
    std::ostringstream os;
    os << is.rdbuf();
    return os.str();
}

std::vector<std::string_view> split_lines(std::string_view s) {
    std::vector<std::string_view> lines;
    size_t pos = 0;
    while (pos <= s.size()) {
        size_t e = s.find('\n', pos);
        if (e == std::string_view::npos) e = s.size();
        lines.push_back(s.substr(pos, e - pos));
        pos = e + 1;
    }
    return lines;
}

// The merge rules of lines[1 .. kNumMerges]; line 0 is the "#version" header.
void add_merges(ClipVocab& v, std::string_view text, const std::string& path, bool append_to_vocab) {
    std::vector<std::string_view> lines = split_lines(text);
    if (lines.empty() || lines[0].find("#version") == std::string_view::npos)
        throw error("CLIP vocabulary ", path, ": not a BPE merges file (no '#version' header line)");
    if (int(lines.size()) < kNumMerges + 1)
        throw error("CLIP vocabulary ", path, ": truncated, ", lines.size() - 1, " merge lines, expected at least ",
                    kNumMerges);
    v.merge_ranks.reserve(kNumMerges);
    for (int i = 1; i <= kNumMerges; ++i) {
        std::string_view l = lines[size_t(i)];
        if (!l.empty() && l.back() == '\r') l.remove_suffix(1);
        size_t sp = l.find(' ');
        if (sp == std::string_view::npos || sp == 0 || sp + 1 >= l.size() || l.find(' ', sp + 1) != std::string_view::npos)
            throw error("CLIP vocabulary ", path, ": line ", i + 1, " is not a merge pair");
        v.merge_ranks.emplace(std::string(l), i - 1);
        if (append_to_vocab) {
            std::string joined = std::string(l.substr(0, sp)) + std::string(l.substr(sp + 1));
            v.encoder[joined] = int32_t(v.decoder.size());  // dict(zip(vocab, ...)): a later duplicate wins
            v.decoder.push_back(std::move(joined));
        }
    }
}

std::shared_ptr<const ClipVocab> load_gz(const std::string& path) {
    auto v = std::make_shared<ClipVocab>();
    v->source = path;
    std::string text = read_gzip(path);  // also reads an uncompressed file transparently
    // Byte symbols in bytes_to_unicode() order (printable bytes first), then with '</w>'.
    std::vector<std::string> syms;
    for (int pass = 0; pass < 2; ++pass)
        for (int b = 0; b < 256; ++b) {
            bool printable = (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE);
            if (printable == (pass == 0)) {
                std::string s;
                utf8_append(s, byte_to_unicode(uint8_t(b)));
                syms.push_back(s);
            }
        }
    for (int suffix = 0; suffix < 2; ++suffix)
        for (const std::string& s : syms) {
            std::string t = suffix ? s + "</w>" : s;
            v->encoder[t] = int32_t(v->decoder.size());
            v->decoder.push_back(t);
        }
    add_merges(*v, text, path, true);
    for (const char* special : {"<start_of_text>", "<end_of_text>"}) {
        v->encoder[special] = int32_t(v->decoder.size());
        v->decoder.push_back(special);
    }
    v->sot_id = v->encoder.at("<start_of_text>");
    v->eot_id = v->encoder.at("<end_of_text>");
    return v;
}

std::shared_ptr<const ClipVocab> load_json(const std::string& vocab_path, const std::string& merges_path) {
    auto v = std::make_shared<ClipVocab>();
    v->source = vocab_path;
    nlohmann::json j;
    try {
        j = nlohmann::json::parse(read_file(vocab_path));
    } catch (const nlohmann::json::exception& e) {
        throw error("CLIP vocabulary ", vocab_path, ": not valid JSON (", e.what(), ")");
    }
    if (!j.is_object() || j.empty()) throw error("CLIP vocabulary ", vocab_path, ": expected a token -> id object");
    if (j.size() > 10'000'000) throw error("CLIP vocabulary ", vocab_path, ": implausibly large");
    v->decoder.resize(j.size());
    for (auto it = j.begin(); it != j.end(); ++it) {
        if (!it.value().is_number_integer())
            throw error("CLIP vocabulary ", vocab_path, ": id of token '", it.key(), "' is not an integer");
        int64_t id = it.value().get<int64_t>();
        if (id < 0 || id >= int64_t(j.size()) || !v->decoder[size_t(id)].empty())
            throw error("CLIP vocabulary ", vocab_path, ": token '", it.key(), "' has a bad or duplicate id ", id);
        v->decoder[size_t(id)] = it.key();
        v->encoder.emplace(it.key(), int32_t(id));
    }
    add_merges(*v, read_file(merges_path), merges_path, false);
    for (int b = 0; b < 256; ++b) {
        std::string s;
        utf8_append(s, byte_to_unicode(uint8_t(b)));
        if (!v->encoder.count(s) || !v->encoder.count(s + "</w>"))
            throw error("CLIP vocabulary ", vocab_path, ": byte symbol '", s, "' missing: not a byte-level BPE vocab");
    }
    auto find_special = [&](const char* hf, const char* oc) {
        if (auto it = v->encoder.find(hf); it != v->encoder.end()) return it->second;
        if (auto it = v->encoder.find(oc); it != v->encoder.end()) return it->second;
        throw error("CLIP vocabulary ", vocab_path, ": no ", hf, " token");
    };
    v->sot_id = find_special("<|startoftext|>", "<start_of_text>");
    v->eot_id = find_special("<|endoftext|>", "<end_of_text>");
    return v;
}

bool is_file(const fs::path& p) {
    std::error_code ec;
    return fs::is_regular_file(p, ec);
}
bool is_dir(const fs::path& p) {
    std::error_code ec;
    return fs::is_directory(p, ec);
}
bool has_json_pair(const fs::path& dir) { return is_file(dir / "vocab.json") && is_file(dir / "merges.txt"); }

constexpr const char* kGzName = "bpe_simple_vocab_16e6.txt.gz";

}  // namespace

std::shared_ptr<const ClipVocab> ClipVocab::load(const std::string& path) {
    fs::path p(path);
    if (is_dir(p)) {
        if (has_json_pair(p)) return load_json((p / "vocab.json").string(), (p / "merges.txt").string());
        if (is_file(p / kGzName)) return load_gz((p / kGzName).string());
        throw error("CLIP vocabulary folder ", path, " has neither vocab.json + merges.txt nor ", kGzName);
    }
    if (!is_file(p)) throw error("CLIP vocabulary ", path, ": no such file");
    std::string name = p.filename().string();
    if (name == "vocab.json" || name == "merges.txt") {
        fs::path dir = p.parent_path();
        if (!has_json_pair(dir.empty() ? fs::path(".") : dir))
            throw error("CLIP vocabulary ", path, ": vocab.json and merges.txt must be side by side");
        return load_json((dir / "vocab.json").string(), (dir / "merges.txt").string());
    }
    return load_gz(path);  // .gz or a plain merges text file
}

std::string find_clip_vocab(const std::string& model_path, const std::string& vocab_flag, const std::string& subfolder) {
    if (!model_path.empty() && is_dir(model_path)) {
        fs::path tok = fs::path(model_path) / subfolder;
        if (has_json_pair(tok)) return tok.string();
    }
    if (!vocab_flag.empty()) {
        if (!is_file(vocab_flag) && !is_dir(vocab_flag)) throw error("--vocab ", vocab_flag, ": no such file or folder");
        return vocab_flag;
    }
    std::string cache = cache_root();
    if (!cache.empty()) {
        fs::path clip = fs::path(cache) / "clip";
        if (has_json_pair(clip)) return clip.string();
        if (is_file(clip / kGzName)) return (clip / kGzName).string();
    }
    throw error("no CLIP tokenizer vocabulary found: pass --vocab PATH (open_clip's ", kGzName,
                ", or a diffusers tokenizer/ folder with vocab.json + merges.txt), or copy those files to ",
                cache.empty() ? std::string("~/.cache/sdpp") : cache, "/clip/ (sdpp puts them there when it downloads a model)");
}

}  // namespace sdpp::text
