// The engine's textual-inversion pieces: where the embeddings folder is (A1111 --embeddings-dir;
// sdpp's default is the "embeddings" folder beside the model) and the "TI hashes" a run writes,
// checked against hashes a request brings along (read from a PNG).
#include "pipeline/pipeline.h"

#include "core/error.h"
#include "core/log.h"
#include "io/embedding_file.h"

#include <filesystem>

namespace sdpp::pipeline {

namespace fs = std::filesystem;

std::string embeddings_folder(const std::string& model_path, const std::string& option) {
    if (!option.empty()) {
        std::error_code ec;
        if (!fs::is_directory(option, ec)) throw error("embeddings folder ", option, ": no such folder");
        return option;
    }
    fs::path p = fs::path(model_path);
    if (p.filename().empty()) p = p.parent_path();  // "folder/" -> "folder"
    return (p.parent_path() / "embeddings").string();
}

std::string run_ti_hashes(const std::string& requested, const std::vector<text::UsedEmbedding>& used) {
    for (const auto& [name, hash] : text::parse_ti_hashes(requested))
        for (const text::UsedEmbedding& u : used)
            if (u.name == name && u.shorthash != hash)
                log_warn("embedding '", name, "' (", u.path, ") has hash ", u.shorthash, ", not ", hash,
                         " as the parameters say: another version of it?");
    return text::ti_hashes_text(used);
}

}  // namespace sdpp::pipeline

namespace sdpp {

std::vector<EmbeddingFileInfo> list_embeddings(const ModelOptions& options) {
    std::vector<EmbeddingFileInfo> out;
    for (const auto& [stem, path] : text::embedding_files(pipeline::embeddings_folder(options.model, options.embeddings_dir))) {
        EmbeddingFileInfo e;
        e.name = stem;
        e.path = path;
        try {
            const EmbeddingData d = read_embedding_file(path);
            e.vectors = d.n_vectors;
            e.sdxl = d.format == "sdxl";
            if (!e.sdxl) e.width = d.vectors.dim(1);
        } catch (const Error& err) {
            e.error = err.what();
        }
        out.push_back(std::move(e));
    }
    return out;
}

}  // namespace sdpp
