// Pull orchestration: list, select, skip what the cache already holds, download, expand sharded
// indices, record the completed pull in the ledger; see pull.h.
#include "hub/pull.h"

#include "hub/cache.h"
#include "hub/download.h"
#include "hub/select.h"
#include "io/sha256.h"

#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <sstream>

namespace sdpp::hub {
namespace {

std::string pull_key(const std::string& file, const PullOptions& o) {
    return file.empty() ? "model:" + (o.variant.empty() ? std::string("full") : o.variant) : "file:" + file;
}

std::string read_text(const std::string& path) {
    std::ifstream is(path, std::ios::binary);
    SDPP_CHECK(is, "cannot read ", path);
    std::stringstream ss;
    ss << is.rdbuf();
    return ss.str();
}

// Is the cached copy of `f` current? Records it in the ledger when it had to be hashed.
bool cached_ok(const RepoFile& f, const std::string& local, Ledger& ledger) {
    int64_t have = file_size(local);
    if (have < 0 || (f.size >= 0 && have != f.size)) return false;
    const LedgerEntry* e = ledger.find(f.path);
    if (e && e->size == have && !e->sha256.empty() && (f.sha256.empty() || e->sha256 == f.sha256)) return true;
    std::string sha = sha256_file(local);
    if (!f.sha256.empty() && sha != f.sha256) return false;
    ledger.set(f.path, {have, sha});
    return true;
}

struct Puller {
    const HubConfig& cfg;
    const std::string& repo;
    const PullOptions& o;
    std::string dir;
    Ledger ledger;
    Progress progress;
    PullResult result;

    // Downloads whichever of `files` the cache lacks, announcing the total first.
    void fetch(const std::vector<RepoFile>& files) {
        std::vector<const RepoFile*> todo;
        int64_t total = 0;
        bool total_known = true;
        for (const RepoFile& f : files) {
            if (cached_ok(f, dir + "/" + f.path, ledger)) continue;
            todo.push_back(&f);
            if (f.size >= 0) total += f.size; else total_known = false;
        }
        ledger.save();
        if (todo.empty()) return;
        progress.note(detail::concat("pulling ", repo, " (", o.revision, "): ", todo.size(), " file",
                                     todo.size() == 1 ? "" : "s", total_known ? ", " + format_bytes(total) : "",
                                     " into ", dir));
        for (const RepoFile* f : todo) {
            DownloadRequest req{resolve_url(cfg, repo, o.revision, f->path), dir + "/" + f->path, f->path, f->size,
                                f->sha256};
            DownloadStats s = download_file(cfg, req, progress);
            result.bytes_downloaded += s.bytes_received;
            ledger.set(f->path, {file_size(req.dest), s.sha256});
            ledger.save();
        }
    }
};

}  // namespace

std::string cached_pull_path(const HubConfig& cfg, const std::string& repo, const std::string& file,
                             const PullOptions& o) {
    std::string dir = repo_cache_dir(cfg, repo, o.revision);
    Ledger ledger = Ledger::load(dir);
    std::string key = pull_key(file, o);
    if (!ledger.pull_intact(key)) return "";
    const auto* paths = ledger.pull(key);
    if (!file.empty()) return dir + "/" + file;
    bool diffusers = false;
    for (const std::string& p : *paths) diffusers = diffusers || p == "model_index.json";
    return diffusers ? dir : dir + "/" + paths->front();
}

PullResult pull(const HubConfig& cfg, const std::string& repo, const std::string& file, const PullOptions& o) {
    check_repo_id(repo);
    check_revision(o.revision);
    if (!file.empty()) check_repo_path(file);
    std::string dir = repo_cache_dir(cfg, repo, o.revision);
    Puller p{cfg, repo, o, dir, Ledger::load(dir), Progress(o.progress), {}};
    const std::string key = pull_key(file, o);

    std::vector<RepoFile> listing;
    try {
        listing = list_repo_files(cfg, repo, o.revision);
    } catch (const Unreachable& e) {
        std::string cached = cached_pull_path(cfg, repo, file, o);
        if (cached.empty())
            throw Unreachable(detail::concat("cannot reach the hub at ", cfg.endpoint, " (", e.what(), ") and ", repo,
                                             file.empty() ? "" : " " + file, " is not in the cache (", dir, ")"));
        p.progress.note("the hub at " + cfg.endpoint + " is unreachable; using the cached copy of " + repo);
        PullResult r;
        r.path = cached;
        r.files = *p.ledger.pull(key);
        r.offline = true;
        return r;
    }
    std::map<std::string, const RepoFile*> by_path;
    for (const RepoFile& f : listing) by_path[f.path] = &f;

    std::vector<RepoFile> wanted;
    bool diffusers = false;
    if (!file.empty()) {
        auto it = by_path.find(file);
        if (it == by_path.end()) {
            std::string some;
            for (size_t i = 0; i < listing.size() && i < 8; ++i) some += (i ? ", " : "") + listing[i].path;
            throw error("file '", file, "' is not in repo '", repo, "' (revision ", o.revision, "); it has ",
                        listing.size(), " files", listing.empty() ? "" : ": " + some,
                        listing.size() > 8 ? ", ..." : "");
        }
        wanted.push_back(*it->second);
    } else if (is_diffusers_listing(listing)) {
        diffusers = true;
        std::vector<std::string> notes;
        wanted = select_diffusers_files(listing, o.variant, &notes);
        for (const std::string& n : notes) p.progress.note(n);
    } else {
        wanted.push_back(select_single_checkpoint(listing, repo));
    }
    p.fetch(wanted);

    // Sharded weights: the index names its shards; fetch them next to it.
    if (diffusers) {
        std::vector<RepoFile> shards;
        std::set<std::string> seen;
        for (const RepoFile& f : wanted) {
            std::filesystem::path rel(f.path);
            if (!is_shard_index(rel.filename().string())) continue;
            std::string folder = rel.parent_path().string();
            for (const std::string& s : shards_from_index(read_text(dir + "/" + f.path), f.path)) {
                std::string path = folder.empty() ? s : folder + "/" + s;
                auto it = by_path.find(path);
                SDPP_CHECK(it != by_path.end(), f.path, " lists shard ", s, ", which repo ", repo, " does not have");
                if (seen.insert(path).second) shards.push_back(*it->second);
            }
        }
        p.fetch(shards);
        wanted.insert(wanted.end(), shards.begin(), shards.end());
    }

    for (const RepoFile& f : wanted) p.result.files.push_back(f.path);
    p.ledger.set_pull(key, p.result.files);
    p.ledger.save();
    p.result.path = diffusers ? dir : dir + "/" + wanted.front().path;
    return p.result;
}

}  // namespace sdpp::hub
