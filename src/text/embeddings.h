// Textual-inversion embeddings called by name in a prompt, as AUTOMATIC1111 stable-diffusion-webui
// finds and expands them:
//   modules/textual_inversion/textual_inversion.py  EmbeddingDatabase (load_from_dir: every .pt /
//       .bin / .safetensors under the folder, name = file stem; register_embedding_by_name: the
//       name's token ids, ids_lookup by first id, longest first; find_embedding_at_position;
//       expected_shape: embeddings of another width are skipped)
//   modules/sd_hijack_clip.py  tokenize_line: a match becomes N slots (id 0, the fragment's weight)
//       that count toward the 75-token chunk (src/text/prompt_parser.cpp calls match())
// The folder is scanned per request (new files show up in a running server); a file is read only
// when its name's ids occur in a prompt, and kept (by path, size and mtime) after that. A file
// that is used but cannot be read is an sdpp::Error; unused files are never opened.
#pragma once
#include "core/tensor.h"
#include "io/embedding_file.h"
#include "text/bpe.h"

#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <span>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

namespace sdpp::text {

// The model's text-encoder widths (0 = the model has no such encoder): SD 1.x / 2.x te1 only,
// SDXL both, the SDXL refiner te2 only.
struct TextEncoderWidths {
    int64_t te1 = 0;
    int64_t te2 = 0;
};

// One embedding the prompts used: what A1111 writes in "TI hashes".
struct UsedEmbedding {
    std::string name;
    std::string path;
    std::string shorthash;  // first 12 hex digits of the file's sha256
    int64_t n_vectors = 0;
};

// A1111's "TI hashes" value: "name: hash, ..." (':' and ',' removed from names), in the given order.
std::string ti_hashes_text(std::span<const UsedEmbedding> used);
// Its pairs back (name, hash), for --from-png; entries without ": " are skipped.
std::vector<std::pair<std::string, std::string>> parse_ti_hashes(const std::string& text);

struct EmbeddingMatch {
    size_t n_tokens = 0;  // prompt tokens the name took
    Tensor vectors;       // [N, W] f32 for the encoder the matcher is for
    std::string name;
};

// The embedding files under `dir` (recursively; hidden entries and empty files skipped) as
// (stem, path), sorted; none when `dir` is "" or not a folder.
std::vector<std::pair<std::string, std::string>> embedding_files(const std::string& dir);

class EmbeddingLibrary {
public:
    // `dir` = "" means no embeddings. A folder that does not exist has no embeddings (the default
    // folder beside the model is often absent); the CLI checks an explicit --embeddings-dir itself.
    explicit EmbeddingLibrary(std::string dir = "");

    const std::string& dir() const { return dir_; }
    // Lists the folder (recursively; hidden and empty files skipped) and tokenises each name.
    void scan(const ClipTokenizer& tok);
    size_t size() const { return entries_.size(); }
    std::vector<std::string> names() const;

    struct Entry {
        std::string name;          // file stem
        std::string path;
        std::vector<int32_t> ids;  // the name's BPE ids (no start / end token)
        bool duplicate = false;    // another file has the same stem
    };
    const std::vector<Entry>& entries() const { return entries_; }
    // Entries whose ids start with `id`, longest name first (ties by name).
    std::span<const size_t> candidates(int32_t id) const;

    struct Loaded {
        EmbeddingData data;
        std::string shorthash;
    };
    // The file of entry `i`, read once (again when its size or mtime changes). Throws sdpp::Error.
    const Loaded& load(size_t i);
    // True the first time it is asked about `path` since the last scan (one warning per file).
    bool first_warning(const std::string& path) { return warned_.insert(path).second; }

private:
    std::string dir_;
    std::vector<Entry> entries_;
    std::unordered_map<int32_t, std::vector<size_t>> by_first_id_;
    struct Cached {
        uintmax_t size = 0;
        int64_t mtime = 0;
        Loaded loaded;
    };
    std::map<std::string, Cached> cache_;  // by path
    std::set<std::string> warned_;
};

// Matching for one text encoder of one model (`encoder` 1 = te1, 2 = te2). Embeddings that do not
// fit the model (another width, an SDXL file on SD 1.x, ...) are skipped as A1111 skips them: the
// name stays text, with one warning per name.
class EmbeddingMatcher {
public:
    EmbeddingMatcher(EmbeddingLibrary& library, TextEncoderWidths model, int encoder);

    // find_embedding_at_position: the longest fitting embedding whose ids start at tokens[pos].
    std::optional<EmbeddingMatch> match(std::span<const int32_t> tokens, size_t pos);
    // The embeddings matched so far, in order of first use.
    const std::vector<UsedEmbedding>& used() const { return used_; }

private:
    // The vectors of entry `i` for this encoder, or nullopt when it does not fit the model.
    std::optional<Tensor> vectors_for(size_t i);

    EmbeddingLibrary& library_;
    TextEncoderWidths model_;
    int encoder_;
    std::map<size_t, std::optional<Tensor>> fit_;  // per entry, decided once
    std::vector<UsedEmbedding> used_;
};

}  // namespace sdpp::text
