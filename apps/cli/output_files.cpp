// output_files.h: output names and the writability checks of `sdpp generate`.
#include "cli/output_files.h"

#include <sdpp/error.hpp>
#include <sdpp/sdpp.hpp>

#include <cerrno>
#include <cstring>
#include <filesystem>

#include <fcntl.h>
#include <unistd.h>

namespace sdpp::cli {

namespace fs = std::filesystem;

std::string output_path(const std::string& pattern, int64_t seed, int index, int count) {
    std::string p = pattern;
    bool templated = false;
    auto replace = [&](const std::string& key, const std::string& value) {
        for (size_t at = p.find(key); at != std::string::npos; at = p.find(key, at + value.size())) {
            p.replace(at, key.size(), value);
            templated = true;
        }
    };
    replace("{seed}", seed_text(seed));
    replace("{index}", std::to_string(index));
    if (!templated && count > 1) {
        fs::path fp(p);
        fp.replace_filename(fp.stem().string() + "-" + std::to_string(index) + fp.extension().string());
        p = fp.string();
    }
    return p;
}

void check_writable(const std::string& path, bool overwrite, const char* what) {
    std::error_code ec;
    if (!overwrite && fs::exists(fs::symlink_status(path, ec)))
        throw error(what, " ", path, " exists (pass --overwrite to replace it)");
    fs::path dir = fs::path(path).parent_path();
    if (!dir.empty() && !fs::is_directory(dir, ec)) throw error(what, " ", path, ": folder ", dir.string(), " does not exist");
    if (fs::is_directory(path, ec)) throw error(what, " ", path, " is a folder");
    // Permission bits do not tell (root passes access(), /proc refuses new files): try it.
    const fs::path probe = (dir.empty() ? fs::path(".") : dir) / (".sdpp-write-test-" + std::to_string(::getpid()));
    const int fd = ::open(probe.c_str(), O_WRONLY | O_CREAT | O_EXCL, 0600);
    if (fd < 0) {
        const int err = errno;
        throw error(what, " ", path, ": cannot write in ", dir.empty() ? "." : dir.string(), " (", std::strerror(err), ")");
    }
    ::close(fd);
    ::unlink(probe.c_str());
}

}  // namespace sdpp::cli
