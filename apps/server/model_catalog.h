// The checkpoints the server may load: the files and diffusers folders under --models-dir (and the
// -m model). Clients name a model by A1111's title ("name.safetensors [hash]"), its model_name or
// its file name; a name is only ever looked up in this list, never joined onto a path, so no
// request can reach a file outside --models-dir.
#pragma once
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

namespace sdpp::server {

struct CatalogEntry {
    std::string path;        // absolute
    std::string model_name;  // path under --models-dir without extension ("sd15", "sub/sdxl")
    std::string file_name;   // path under --models-dir with extension ("sd15.safetensors")
};

class ModelCatalog {
public:
    ModelCatalog(std::string models_dir, std::string extra_model);
    void refresh();  // rescans --models-dir
    std::vector<CatalogEntry> entries() const;
    // The entry a client's name means, or nothing.
    std::optional<CatalogEntry> find(const std::string& name) const;
    // A1111's title: "file_name [hash]" once the hash is known (after a load), "file_name" before.
    std::string title(const CatalogEntry& e) const;
    void set_hash(const std::string& path, const std::string& hash);
    std::string hash(const std::string& path) const;
    const std::string& models_dir() const { return dir_; }

private:
    std::string dir_, extra_;
    mutable std::mutex mu_;
    std::vector<CatalogEntry> entries_;
    std::map<std::string, std::string> hashes_;  // path -> short hash
};

}  // namespace sdpp::server
