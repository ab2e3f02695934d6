// Resumable, verified download of one file; see download.h. The Range/206 handling follows
// RFC 9110 §14 (a server may ignore Range and send 200 with the whole body).
#include "hub/download.h"

#include "hub/cache.h"
#include "io/sha256.h"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <thread>

namespace sdpp::hub {
namespace {

struct Fd {
    int fd = -1;
    ~Fd() {
        if (fd >= 0) ::close(fd);
    }
};

std::string errno_text() { return std::strerror(errno); }

bool write_all(int fd, const char* p, size_t n) {
    while (n > 0) {
        ssize_t w = ::write(fd, p, n);
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0) return false;
        p += w;
        n -= size_t(w);
    }
    return true;
}

// What one attempt left behind, and whether another attempt may help.
struct Attempt {
    bool done = false;       // all bytes are in the .part
    bool retry = false;      // worth another attempt
    bool unreachable = false;
    std::string reason;
};

}  // namespace

DownloadStats download_file(const HubConfig& cfg, const DownloadRequest& req, Progress& progress) {
    const std::string part = req.dest + ".part";
    make_dirs(std::filesystem::path(req.dest).parent_path().string());

    Fd f;
    f.fd = ::open(part.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    SDPP_CHECK(f.fd >= 0, "cannot open ", part, ": ", errno_text());
    if (::flock(f.fd, LOCK_EX | LOCK_NB) != 0)
        throw error("another process is downloading ", req.dest, " (", part, " is locked); wait for it to finish");
    struct stat st {};
    SDPP_CHECK(::fstat(f.fd, &st) == 0, "cannot stat ", part, ": ", errno_text());

    int64_t have = st.st_size;   // bytes in the .part, all of them fed to `hash`
    Sha256 hash;
    auto truncate_part = [&] {
        SDPP_CHECK(::ftruncate(f.fd, 0) == 0, "cannot truncate ", part, ": ", errno_text());
        have = 0;
        hash.reset();
    };
    if (req.size >= 0 && have > req.size) truncate_part();  // not a prefix of this file
    if (have > 0) sha256_update_from_file(hash, part, have);

    DownloadStats stats;
    stats.resumed_from = have;
    auto drop_part = [&] {
        ::unlink(part.c_str());
    };

    progress.begin_file(req.name, req.size, have);
    int delay_ms = cfg.retry_delay_ms;
    std::string last_reason;
    bool last_unreachable = false;
    for (int attempt = 1;; ++attempt) {
        if (req.size >= 0 && have == req.size) break;
        SDPP_CHECK(::lseek(f.fd, have, SEEK_SET) == have, "cannot seek in ", part, ": ", errno_text());

        const int64_t asked_from = have;
        bool range_mismatch = false, oversize = false, write_failed = false;
        std::string write_error;
        DownloadCallbacks cb;
        cb.begin = [&](long status, int64_t range_start) {
            if (status == 206) {
                if (range_start != asked_from && !(asked_from == 0 && range_start < 0)) {
                    range_mismatch = true;
                    return false;
                }
                return true;
            }
            if (have > 0) {  // 200: the server ignored Range and sends the whole file
                progress.note(req.name + ": the server ignored the Range request; restarting from zero");
                truncate_part();
                if (::lseek(f.fd, 0, SEEK_SET) != 0) return false;
                progress.restart(0);
                stats.resumed_from = 0;
            }
            return true;
        };
        cb.write = [&](const char* p, size_t n) {
            if (req.size >= 0 && have + int64_t(n) > req.size) {
                oversize = true;
                return false;
            }
            if (!write_all(f.fd, p, n)) {
                write_failed = true;
                write_error = errno_text();
                return false;
            }
            hash.update(p, n);
            have += int64_t(n);
            stats.bytes_received += int64_t(n);
            progress.update(have);
            return true;
        };
        DownloadOutcome out = http_download(req.url, cfg.http, asked_from, cb);

        Attempt a;
        bool ok_status = out.status >= 200 && out.status < 300;
        if (write_failed) {
            progress.end_file(false);
            throw error("cannot write ", part, ": ", write_error);
        } else if (oversize) {
            progress.end_file(false);
            drop_part();
            throw error("download of ", req.name, " rejected: the server sent more than the listed ", req.size,
                        " bytes; the partial file was deleted");
        } else if (range_mismatch) {
            truncate_part();
            a.retry = true;
            a.reason = "the server answered the Range request with other bytes; restarting from zero";
        } else if (out.curl_code == 0 && ok_status) {
            if (req.size < 0 || have == req.size) break;
            a.retry = true;
            a.reason = "the transfer ended after " + std::to_string(have) + " of " + std::to_string(req.size) + " bytes";
        } else if (out.status == 416) {
            truncate_part();
            a.retry = true;
            a.reason = "the server refused the Range request (HTTP 416); restarting from zero";
        } else if (out.status >= 400 && out.status != 408 && out.status != 429 && out.status < 500) {
            progress.end_file(false);
            if (have == 0) drop_part();
            throw Error(describe_http_error("cannot download " + req.name + " (" + req.url + ")", out.status, out.body));
        } else if (out.status >= 300 && out.status < 400) {
            progress.end_file(false);
            throw error("cannot download ", req.name, ": too many redirects or a redirect without a Location");
        } else {
            a.retry = true;
            a.unreachable = out.unreachable();
            a.reason = out.curl_code != 0 ? out.error : "HTTP " + std::to_string(out.status);
        }
        last_reason = a.reason;
        last_unreachable = a.unreachable;
        if (attempt >= cfg.max_attempts) {
            progress.end_file(false);
            if (have == 0) drop_part();
            std::string msg = detail::concat("download of ", req.name, " failed after ", attempt, " attempt",
                                             attempt == 1 ? "" : "s", ": ", last_reason,
                                             have > 0 ? "; run the pull again to resume from " + format_bytes(have) : "");
            if (last_unreachable) throw Unreachable(msg);
            throw Error(msg);
        }
        progress.note(detail::concat(req.name, ": ", a.reason, "; retrying in ", delay_ms / 1000.0, " s (attempt ",
                                     attempt + 1, " of ", cfg.max_attempts, ")",
                                     have > 0 ? ", resuming at " + format_bytes(have) : ""));
        std::this_thread::sleep_for(std::chrono::milliseconds(delay_ms));
        delay_ms = std::min(delay_ms * 2, 30000);
    }

    // Every byte is in the .part: check it against the listing before it gets its real name.
    SDPP_CHECK(::fsync(f.fd) == 0, "cannot flush ", part, ": ", errno_text());
    SDPP_CHECK(::fstat(f.fd, &st) == 0, "cannot stat ", part, ": ", errno_text());
    stats.sha256 = hash.hex_digest();
    if (req.size >= 0 && st.st_size != req.size) {
        progress.end_file(false);
        drop_part();
        throw error("download of ", req.name, " rejected: ", st.st_size, " bytes instead of the listed ", req.size,
                    "; the file was deleted");
    }
    if (!req.sha256.empty() && stats.sha256 != req.sha256) {
        progress.end_file(false);
        drop_part();
        throw error("download of ", req.name, " rejected: sha256 ", stats.sha256, " instead of the listed ",
                    req.sha256, "; the file was deleted, run the pull again");
    }
    if (::rename(part.c_str(), req.dest.c_str()) != 0) {
        std::string why = errno_text();
        progress.end_file(false);
        throw error("cannot rename ", part, " to ", req.dest, ": ", why);
    }
    progress.end_file(true);
    return stats;
}

}  // namespace sdpp::hub
