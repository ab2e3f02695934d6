// The sdpp model cache: <cache>/models/<owner>--<name>/<revision>/<path in the repo>, so a
// diffusers repo's revision folder is itself a diffusers folder the loader can open.
// Each revision folder holds a small ledger, .sdpp-pull.json, recording the size and sha256 of
// every file checked so far and which pulls completed, so later runs skip re-hashing and can
// work offline.
#pragma once
#include "hub/hub_api.h"

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace sdpp::hub {

// <cache>/models/<owner>--<name>/<revision, '/' as '--'>
std::string repo_cache_dir(const HubConfig& cfg, const std::string& repo, const std::string& revision);

struct LedgerEntry {
    int64_t size = -1;
    std::string sha256;  // computed at download; empty only when never hashed
};

class Ledger {
public:
    // Loads <dir>/.sdpp-pull.json (a missing or unreadable ledger is an empty one).
    static Ledger load(const std::string& dir);
    void save() const;  // atomically (write + rename); creates the folder

    const LedgerEntry* find(const std::string& path) const;
    void set(const std::string& path, LedgerEntry e) { files_[path] = std::move(e); }
    void forget(const std::string& path) { files_.erase(path); }

    // A completed pull, keyed by what was asked ("diffusers:fp16", "file:x.safetensors", ...).
    void set_pull(const std::string& key, const std::vector<std::string>& paths) { pulls_[key] = paths; }
    const std::vector<std::string>* pull(const std::string& key) const;
    // True when the pull `key` completed and each of its files is still there with its size.
    bool pull_intact(const std::string& key) const;

    const std::string& dir() const { return dir_; }

private:
    std::string dir_;
    std::map<std::string, LedgerEntry> files_;
    std::map<std::string, std::vector<std::string>> pulls_;
};

// Creates `dir` and its parents; throws naming the folder on failure.
void make_dirs(const std::string& dir);
// File size, or -1 when absent.
int64_t file_size(const std::string& path);

}  // namespace sdpp::hub
