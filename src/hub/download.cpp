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

// The .part file a download fills: its locked descriptor, the bytes it holds and their running hash.
struct PartFile {
    std::string path;
    Fd f;
    int64_t have = 0;  // bytes in the .part, all of them fed to `hash`
    Sha256 hash;
};

// Empties the .part and its hash, for when the bytes on disk cannot be a prefix of the file.
void truncate_part(PartFile& p) {
    SDPP_CHECK(::ftruncate(p.f.fd, 0) == 0, "cannot truncate ", p.path, ": ", errno_text());
    p.have = 0;
    p.hash.reset();
}

// Deletes the .part, for failures that leave nothing worth resuming.
void drop_part(const PartFile& p) { ::unlink(p.path.c_str()); }

// Opens and locks the .part (one downloader per file) and hashes what an earlier run left in it.
void open_part(PartFile& p, const DownloadRequest& req) {
    make_dirs(std::filesystem::path(req.dest).parent_path().string());
    p.f.fd = ::open(p.path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    SDPP_CHECK(p.f.fd >= 0, "cannot open ", p.path, ": ", errno_text());
    if (::flock(p.f.fd, LOCK_EX | LOCK_NB) != 0)
        throw error("another process is downloading ", req.dest, " (", p.path, " is locked); wait for it to finish");
    struct stat st {};
    SDPP_CHECK(::fstat(p.f.fd, &st) == 0, "cannot stat ", p.path, ": ", errno_text());
    p.have = st.st_size;
    if (req.size >= 0 && p.have > req.size) truncate_part(p);  // not a prefix of this file
    if (p.have > 0) sha256_update_from_file(p.hash, p.path, p.have);
}

// What one HTTP request returned, and why its callbacks stopped it, if they did.
struct Transfer {
    DownloadOutcome out;
    bool range_mismatch = false, oversize = false, write_failed = false;
    std::string write_error;
};

// One HTTP request from the end of the .part, appending the body to it and its hash; a 200 (Range
// ignored) restarts from zero, a wrong 206 range or more bytes than listed stop the transfer.
Transfer transfer(const HubConfig& cfg, const DownloadRequest& req, PartFile& p, Progress& progress,
                  DownloadStats& stats) {
    SDPP_CHECK(::lseek(p.f.fd, p.have, SEEK_SET) == p.have, "cannot seek in ", p.path, ": ", errno_text());
    const int64_t asked_from = p.have;
    Transfer t;
    DownloadCallbacks cb;
    cb.begin = [&](long status, int64_t range_start) {
        if (status == 206) {
            if (range_start != asked_from && !(asked_from == 0 && range_start < 0)) {
                t.range_mismatch = true;
                return false;
            }
            return true;
        }
        if (p.have > 0) {  // 200: the server ignored Range and sends the whole file
            progress.note(req.name + ": the server ignored the Range request; restarting from zero");
            truncate_part(p);
            if (::lseek(p.f.fd, 0, SEEK_SET) != 0) return false;
            progress.restart(0);
            stats.resumed_from = 0;
        }
        return true;
    };
    cb.write = [&](const char* data, size_t n) {
        if (req.size >= 0 && p.have + int64_t(n) > req.size) {
            t.oversize = true;
            return false;
        }
        if (!write_all(p.f.fd, data, n)) {
            t.write_failed = true;
            t.write_error = errno_text();
            return false;
        }
        p.hash.update(data, n);
        p.have += int64_t(n);
        stats.bytes_received += int64_t(n);
        progress.update(p.have);
        return true;
    };
    t.out = http_download(req.url, cfg.http, asked_from, cb);
    return t;
}

// Sorts a finished transfer into done, worth a retry (with the reason), or a failure no retry can
// fix, which throws (deleting the .part when nothing in it is worth resuming).
Attempt judge(const DownloadRequest& req, PartFile& p, const Transfer& t, Progress& progress) {
    const DownloadOutcome& out = t.out;
    Attempt a;
    bool ok_status = out.status >= 200 && out.status < 300;
    if (t.write_failed) {
        progress.end_file(false);
        throw error("cannot write ", p.path, ": ", t.write_error);
    } else if (t.oversize) {
        progress.end_file(false);
        drop_part(p);
        throw error("download of ", req.name, " rejected: the server sent more than the listed ", req.size,
                    " bytes; the partial file was deleted");
    } else if (t.range_mismatch) {
        truncate_part(p);
        a.retry = true;
        a.reason = "the server answered the Range request with other bytes; restarting from zero";
    } else if (out.curl_code == 0 && ok_status) {
        if (req.size < 0 || p.have == req.size) {
            a.done = true;
            return a;
        }
        a.retry = true;
        a.reason = "the transfer ended after " + std::to_string(p.have) + " of " + std::to_string(req.size) + " bytes";
    } else if (out.status == 416) {
        truncate_part(p);
        a.retry = true;
        a.reason = "the server refused the Range request (HTTP 416); restarting from zero";
    } else if (out.status >= 400 && out.status != 408 && out.status != 429 && out.status < 500) {
        progress.end_file(false);
        if (p.have == 0) drop_part(p);
        throw Error(describe_http_error("cannot download " + req.name + " (" + req.url + ")", out.status, out.body));
    } else if (out.status >= 300 && out.status < 400) {
        progress.end_file(false);
        throw error("cannot download ", req.name, ": too many redirects or a redirect without a Location");
    } else {
        a.retry = true;
        a.unreachable = out.unreachable();
        a.reason = out.curl_code != 0 ? out.error : "HTTP " + std::to_string(out.status);
    }
    return a;
}

// Fails after the last attempt, as Unreachable when the network was the cause (callers fall back to
// the cache then); a .part with bytes in it stays for the next pull to resume.
[[noreturn]] void give_up(const DownloadRequest& req, const PartFile& p, const Attempt& a, int attempt,
                          Progress& progress) {
    progress.end_file(false);
    if (p.have == 0) drop_part(p);
    std::string msg = detail::concat("download of ", req.name, " failed after ", attempt, " attempt",
                                     attempt == 1 ? "" : "s", ": ", a.reason,
                                     p.have > 0 ? "; run the pull again to resume from " + format_bytes(p.have) : "");
    if (a.unreachable) throw Unreachable(msg);
    throw Error(msg);
}

// Says why the attempt failed and waits before the next one; the wait doubles each time, up to 30 s.
void wait_to_retry(const HubConfig& cfg, const DownloadRequest& req, const PartFile& p, const Attempt& a,
                   int attempt, int& delay_ms, Progress& progress) {
    progress.note(detail::concat(req.name, ": ", a.reason, "; retrying in ", delay_ms / 1000.0, " s (attempt ",
                                 attempt + 1, " of ", cfg.max_attempts, ")",
                                 p.have > 0 ? ", resuming at " + format_bytes(p.have) : ""));
    std::this_thread::sleep_for(std::chrono::milliseconds(delay_ms));
    delay_ms = std::min(delay_ms * 2, 30000);
}

// Checks the complete .part against the listed size and sha256, then gives it its real name; a
// file that fails the check is deleted, so a later pull starts clean.
void finish_part(const DownloadRequest& req, PartFile& p, DownloadStats& stats, Progress& progress) {
    struct stat st {};
    SDPP_CHECK(::fsync(p.f.fd) == 0, "cannot flush ", p.path, ": ", errno_text());
    SDPP_CHECK(::fstat(p.f.fd, &st) == 0, "cannot stat ", p.path, ": ", errno_text());
    stats.sha256 = p.hash.hex_digest();
    if (req.size >= 0 && st.st_size != req.size) {
        progress.end_file(false);
        drop_part(p);
        throw error("download of ", req.name, " rejected: ", st.st_size, " bytes instead of the listed ", req.size,
                    "; the file was deleted");
    }
    if (!req.sha256.empty() && stats.sha256 != req.sha256) {
        progress.end_file(false);
        drop_part(p);
        throw error("download of ", req.name, " rejected: sha256 ", stats.sha256, " instead of the listed ",
                    req.sha256, "; the file was deleted, run the pull again");
    }
    if (::rename(p.path.c_str(), req.dest.c_str()) != 0) {
        std::string why = errno_text();
        progress.end_file(false);
        throw error("cannot rename ", p.path, " to ", req.dest, ": ", why);
    }
    progress.end_file(true);
}

}  // namespace

DownloadStats download_file(const HubConfig& cfg, const DownloadRequest& req, Progress& progress) {
    PartFile p;
    p.path = req.dest + ".part";
    open_part(p, req);

    DownloadStats stats;
    stats.resumed_from = p.have;
    progress.begin_file(req.name, req.size, p.have);
    int delay_ms = cfg.retry_delay_ms;
    for (int attempt = 1;; ++attempt) {
        if (req.size >= 0 && p.have == req.size) break;
        const Attempt a = judge(req, p, transfer(cfg, req, p, progress, stats), progress);
        if (a.done) break;
        if (attempt >= cfg.max_attempts) give_up(req, p, a, attempt, progress);
        wait_to_retry(cfg, req, p, a, attempt, delay_ms, progress);
    }

    // Every byte is in the .part: check it against the listing before it gets its real name.
    finish_part(req, p, stats, progress);
    return stats;
}

}  // namespace sdpp::hub
