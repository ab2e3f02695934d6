#include "server/model_catalog.h"

#include <algorithm>
#include <filesystem>

namespace sdpp::server {

namespace fs = std::filesystem;

namespace {

bool is_checkpoint_file(const fs::path& p) {
    std::string ext = p.extension().string();
    std::transform(ext.begin(), ext.end(), ext.begin(), [](unsigned char c) { return char(std::tolower(c)); });
    return ext == ".safetensors" || ext == ".ckpt";
}

bool is_diffusers_folder(const fs::path& p) {
    std::error_code ec;
    return fs::is_regular_file(p / "model_index.json", ec);
}

// Files and diffusers folders, depth-limited (A1111 looks into sub-folders too).
void scan(const fs::path& root, const fs::path& dir, int depth, std::vector<CatalogEntry>& out) {
    std::error_code ec;
    std::vector<fs::path> children;
    for (fs::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec)) children.push_back(it->path());
    std::sort(children.begin(), children.end());
    for (const fs::path& p : children) {
        const std::string rel = p.lexically_relative(root).generic_string();  // symlinks keep their own name
        if (rel.empty()) continue;
        if (fs::is_directory(p, ec)) {
            if (is_diffusers_folder(p))
                out.push_back({fs::absolute(p).string(), rel, rel});
            else if (depth < 3)
                scan(root, p, depth + 1, out);
        } else if (is_checkpoint_file(p)) {
            out.push_back({fs::absolute(p).string(), fs::path(rel).replace_extension().generic_string(), rel});
        }
    }
}

}  // namespace

ModelCatalog::ModelCatalog(std::string models_dir, std::string extra_model)
    : dir_(std::move(models_dir)), extra_(std::move(extra_model)) {
    refresh();
}

void ModelCatalog::refresh() {
    std::vector<CatalogEntry> found;
    std::error_code ec;
    if (!dir_.empty() && fs::is_directory(dir_, ec)) scan(fs::path(dir_), fs::path(dir_), 0, found);
    if (!extra_.empty()) {
        const std::string abs = fs::absolute(extra_).string();
        const bool listed = std::any_of(found.begin(), found.end(), [&](const CatalogEntry& e) {
            std::error_code eq;
            return e.path == abs || fs::equivalent(e.path, abs, eq);
        });
        if (!listed) {
            fs::path p(abs);
            const std::string file = p.filename().string();
            found.insert(found.begin(), {abs, is_checkpoint_file(p) ? p.stem().string() : file, file});
        }
    }
    std::lock_guard lock(mu_);
    entries_ = std::move(found);
}

std::vector<CatalogEntry> ModelCatalog::entries() const {
    std::lock_guard lock(mu_);
    return entries_;
}

std::optional<CatalogEntry> ModelCatalog::find(const std::string& name) const {
    // A title whose hash this server has not computed yet still names the file.
    std::string base = name;
    if (size_t open = name.rfind(" ["); open != std::string::npos && !name.empty() && name.back() == ']')
        base = name.substr(0, open);
    std::lock_guard lock(mu_);
    for (const CatalogEntry& e : entries_) {
        if (base != name && (base == e.file_name || base == e.model_name)) return e;
        auto h = hashes_.find(e.path);
        const std::string titled = h != hashes_.end() && !h->second.empty() ? e.file_name + " [" + h->second + "]" : "";
        if (name == e.model_name || name == e.file_name || name == e.path || (!titled.empty() && name == titled))
            return e;
    }
    return std::nullopt;
}

std::string ModelCatalog::title(const CatalogEntry& e) const {
    const std::string h = hash(e.path);
    return h.empty() ? e.file_name : e.file_name + " [" + h + "]";
}

void ModelCatalog::set_hash(const std::string& path, const std::string& hash) {
    std::lock_guard lock(mu_);
    hashes_[path] = hash;
}

std::string ModelCatalog::hash(const std::string& path) const {
    std::lock_guard lock(mu_);
    auto it = hashes_.find(path);
    return it == hashes_.end() ? "" : it->second;
}

}  // namespace sdpp::server
