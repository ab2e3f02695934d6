// Textual-inversion embeddings by name, mirroring stable-diffusion-webui (v1.10)
// modules/textual_inversion/textual_inversion.py (EmbeddingDatabase.load_from_dir,
// register_embedding_by_name, find_embedding_at_position, Embedding.shorthash) and the fit rule of
// get_expected_shape: an embedding whose width is not the model's is skipped and its name stays text.
#include "text/embeddings.h"

#include "core/error.h"
#include "core/log.h"
#include "io/mapped_file.h"
#include "io/sha256.h"

#include <algorithm>
#include <filesystem>
#include <system_error>

namespace sdpp::text {

namespace fs = std::filesystem;

namespace {

// load_from_dir reads these (A1111 also reads embeddings hidden in .png / .webp images: not here).
bool embedding_extension(const fs::path& p) {
    std::string e = p.extension().string();
    for (char& c : e) c = char(std::tolower(static_cast<unsigned char>(c)));
    return e == ".pt" || e == ".bin" || e == ".safetensors";
}

// A folder with more files than this is not an embeddings folder (a mistyped path to "/").
constexpr size_t kMaxScannedFiles = 100000;

std::string width_text(const EmbeddingData& d) {
    if (d.format == "sdxl")
        return "clip_l width " + std::to_string(d.clip_l.dim(1)) + " + clip_g width " + std::to_string(d.clip_g.dim(1)) +
               " (an SDXL embedding)";
    return "width " + std::to_string(d.vectors.dim(1));
}

std::string model_text(TextEncoderWidths m) {
    if (m.te1 && m.te2) return "clip_l " + std::to_string(m.te1) + " + clip_g " + std::to_string(m.te2);
    return "width " + std::to_string(m.te1 ? m.te1 : m.te2);
}

}  // namespace

std::string ti_hashes_text(std::span<const UsedEmbedding> used) {
    std::string out;
    for (const UsedEmbedding& u : used) {
        if (u.shorthash.empty()) continue;
        std::string name;
        for (char c : u.name)
            if (c != ':' && c != ',') name.push_back(c);
        out += (out.empty() ? "" : ", ") + name + ": " + u.shorthash;
    }
    return out;
}

std::vector<std::pair<std::string, std::string>> parse_ti_hashes(const std::string& text) {
    std::vector<std::pair<std::string, std::string>> out;
    size_t start = 0;
    while (start <= text.size()) {
        size_t comma = text.find(',', start);
        std::string part = text.substr(start, comma == std::string::npos ? std::string::npos : comma - start);
        size_t colon = part.rfind(':');
        if (colon != std::string::npos) {
            auto trim = [](std::string s) {
                size_t b = s.find_first_not_of(" \t"), e = s.find_last_not_of(" \t");
                return b == std::string::npos ? std::string() : s.substr(b, e - b + 1);
            };
            std::string name = trim(part.substr(0, colon)), hash = trim(part.substr(colon + 1));
            if (!name.empty() && !hash.empty()) out.emplace_back(name, hash);
        }
        if (comma == std::string::npos) break;
        start = comma + 1;
    }
    return out;
}

EmbeddingLibrary::EmbeddingLibrary(std::string dir) : dir_(std::move(dir)) {}

std::vector<std::pair<std::string, std::string>> embedding_files(const std::string& dir) {
    std::vector<std::pair<std::string, std::string>> found;  // (stem, path)
    std::error_code ec;
    if (dir.empty() || !fs::is_directory(dir, ec)) return found;
    fs::recursive_directory_iterator it(dir, fs::directory_options::skip_permission_denied, ec), end;
    if (ec) throw error("embeddings folder ", dir, ": ", ec.message());
    size_t seen = 0;
    for (; it != end; it.increment(ec)) {
        if (ec) throw error("embeddings folder ", dir, ": ", ec.message());
        if (++seen > kMaxScannedFiles)
            throw error("embeddings folder ", dir, " holds more than ", kMaxScannedFiles, " entries: not an embeddings folder?");
        const fs::path& p = it->path();
        const std::string fname = p.filename().string();
        if (fname.empty() || fname[0] == '.') {
            if (it->is_directory(ec)) it.disable_recursion_pending();
            continue;
        }
        if (!it->is_regular_file(ec) || !embedding_extension(p) || it->file_size(ec) == 0 || ec) continue;
        found.emplace_back(p.stem().string(), p.string());
    }
    std::sort(found.begin(), found.end());
    return found;
}

void EmbeddingLibrary::scan(const ClipTokenizer& tok) {
    entries_.clear();
    by_first_id_.clear();
    warned_.clear();
    std::error_code ec;
    if (dir_.empty() || !fs::is_directory(dir_, ec)) {
        if (!dir_.empty()) log_debug("embeddings: no folder ", dir_);
        return;
    }
    const std::vector<std::pair<std::string, std::string>> found = embedding_files(dir_);
    for (size_t i = 0; i < found.size(); ++i) {
        Entry e{found[i].first, found[i].second, tok.encode(found[i].first), false};
        e.duplicate = (i > 0 && found[i - 1].first == e.name) || (i + 1 < found.size() && found[i + 1].first == e.name);
        if (e.ids.empty()) continue;  // a name with no tokens can never match
        entries_.push_back(std::move(e));
    }
    log_debug("embeddings: ", entries_.size(), " files in ", dir_);
    for (size_t i = 0; i < entries_.size(); ++i) by_first_id_[entries_[i].ids[0]].push_back(i);
    for (auto& [id, list] : by_first_id_)
        std::stable_sort(list.begin(), list.end(),
                         [&](size_t a, size_t b) { return entries_[a].ids.size() > entries_[b].ids.size(); });
}

std::vector<std::string> EmbeddingLibrary::names() const {
    std::vector<std::string> out;
    for (const Entry& e : entries_) out.push_back(e.name);
    return out;
}

std::span<const size_t> EmbeddingLibrary::candidates(int32_t id) const {
    auto it = by_first_id_.find(id);
    if (it == by_first_id_.end()) return {};
    return it->second;
}

const EmbeddingLibrary::Loaded& EmbeddingLibrary::load(size_t i) {
    SDPP_CHECK(i < entries_.size(), "embedding index out of range");
    const Entry& e = entries_[i];
    if (e.duplicate) {
        std::string paths;
        for (const Entry& o : entries_)
            if (o.name == e.name) paths += (paths.empty() ? "" : ", ") + o.path;
        throw error("embedding name '", e.name, "' is ambiguous: ", paths, " (rename one of them)");
    }
    std::error_code ec;
    const uintmax_t size = fs::file_size(e.path, ec);
    const int64_t mtime = ec ? 0 : int64_t(fs::last_write_time(e.path, ec).time_since_epoch().count());
    if (ec) throw error("embedding '", e.name, "': ", e.path, ": ", ec.message());
    auto it = cache_.find(e.path);
    if (it != cache_.end() && it->second.size == size && it->second.mtime == mtime) return it->second.loaded;
    std::shared_ptr<const MappedFile> m = MappedFile::open(e.path);
    Loaded l;
    try {
        l.data = read_embedding_memory(m, m->data(), m->size(), e.path);
    } catch (const Error& err) {
        throw error("embedding '", e.name, "': ", err.what());
    }
    l.shorthash = sha256_hex(m->data(), m->size()).substr(0, 12);
    log_debug("embedding ", e.name, ": ", l.data.n_vectors, " vectors (", l.data.format, ") from ", e.path);
    Cached& c = cache_[e.path];
    c = Cached{size, mtime, std::move(l)};
    return c.loaded;
}

EmbeddingMatcher::EmbeddingMatcher(EmbeddingLibrary& library, TextEncoderWidths model, int encoder)
    : library_(library), model_(model), encoder_(encoder) {
    SDPP_CHECK(encoder == 1 || encoder == 2, "embedding matcher: encoder ", encoder, " is not 1 or 2");
}

std::optional<Tensor> EmbeddingMatcher::vectors_for(size_t i) {
    if (auto it = fit_.find(i); it != fit_.end()) return it->second;
    const EmbeddingLibrary::Loaded& l = library_.load(i);
    const EmbeddingData& d = l.data;
    std::optional<Tensor> v;
    if (model_.te1 && model_.te2) {  // SDXL: clip_l into CLIP-L, clip_g into bigG
        if (d.format == "sdxl" && d.clip_l.dim(1) == model_.te1 && d.clip_g.dim(1) == model_.te2)
            v = encoder_ == 1 ? d.clip_l : d.clip_g;
    } else if (d.format != "sdxl") {  // one encoder (SD 1.x / 2.x te1, the refiner's te2)
        if (d.vectors.dim(1) == (model_.te1 ? model_.te1 : model_.te2)) v = d.vectors;
    }
    if (!v && library_.first_warning(library_.entries()[i].path))
        log_warn("embedding '", library_.entries()[i].name, "' (", library_.entries()[i].path, ") has ", width_text(d),
                 "; this model's text encoder takes ", model_text(model_), ": not used, the name stays text");
    fit_[i] = v;
    return v;
}

std::optional<EmbeddingMatch> EmbeddingMatcher::match(std::span<const int32_t> tokens, size_t pos) {
    if (pos >= tokens.size()) return std::nullopt;
    for (size_t i : library_.candidates(tokens[pos])) {
        const std::vector<int32_t>& ids = library_.entries()[i].ids;
        if (tokens.size() - pos < ids.size() || !std::equal(ids.begin(), ids.end(), tokens.begin() + std::ptrdiff_t(pos)))
            continue;
        std::optional<Tensor> v = vectors_for(i);
        if (!v) continue;  // skipped: a shorter name may still match here
        const auto& e = library_.entries()[i];
        if (std::none_of(used_.begin(), used_.end(), [&](const UsedEmbedding& u) { return u.path == e.path; }))
            used_.push_back({e.name, e.path, library_.load(i).shorthash, v->dim(0)});
        return EmbeddingMatch{ids.size(), *v, e.name};
    }
    return std::nullopt;
}

}  // namespace sdpp::text
