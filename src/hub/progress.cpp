// Download progress display; see progress.h.
#include "hub/progress.h"

#include <sys/ioctl.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>

namespace sdpp::hub {
namespace {

int terminal_columns() {
    winsize w{};
    if (ioctl(STDERR_FILENO, TIOCGWINSZ, &w) == 0 && w.ws_col >= 40) return w.ws_col;
    return 80;
}

std::string format_duration(double s) {
    if (!(s >= 0) || s > 99 * 3600) return "--:--";
    long t = long(s + 0.5);
    char buf[32];
    if (t >= 3600)
        std::snprintf(buf, sizeof buf, "%ld:%02ld:%02ld", t / 3600, t / 60 % 60, t % 60);
    else
        std::snprintf(buf, sizeof buf, "%ld:%02ld", t / 60, t % 60);
    return buf;
}

}  // namespace

std::string format_bytes(int64_t n) {
    char buf[32];
    if (n >= 1000000000)
        std::snprintf(buf, sizeof buf, "%.2f GB", double(n) / 1e9);
    else if (n >= 1000000)
        std::snprintf(buf, sizeof buf, "%.1f MB", double(n) / 1e6);
    else if (n >= 1000)
        std::snprintf(buf, sizeof buf, "%.1f kB", double(n) / 1e3);
    else
        std::snprintf(buf, sizeof buf, "%lld B", (long long)n);
    return buf;
}

Progress::Progress(ProgressMode mode) : mode_(mode) {
    if (mode_ == ProgressMode::Auto) mode_ = isatty(STDERR_FILENO) ? ProgressMode::Bar : ProgressMode::Lines;
}

Progress::~Progress() {
    if (active_ && bar_drawn_) std::fputc('\n', stderr);
}

void Progress::begin_file(const std::string& name, int64_t total, int64_t already) {
    name_ = name;
    total_ = total;
    already_ = done_ = already;
    active_ = true;
    bar_drawn_ = false;
    start_ = last_draw_ = std::chrono::steady_clock::now();
    if (mode_ == ProgressMode::Bar) draw(false);
}

void Progress::update(int64_t done) {
    done_ = done;
    if (mode_ != ProgressMode::Bar) return;
    auto now = std::chrono::steady_clock::now();
    if (now - last_draw_ < std::chrono::milliseconds(100)) return;
    last_draw_ = now;
    draw(false);
}

void Progress::restart(int64_t done) {
    already_ = done_ = done;
    start_ = std::chrono::steady_clock::now();
}

void Progress::draw(bool final) {
    double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
    double rate = secs > 0.05 ? double(done_ - already_) / secs : 0;  // bytes/s of this session
    // Fixed-width numbers, so the line does not jitter as they change.
    char nums[96];
    std::string eta = final ? "in " + format_duration(secs)
                            : "ETA " + format_duration(total_ > 0 && rate > 0 ? double(total_ - done_) / rate : -1);
    std::snprintf(nums, sizeof nums, "  %9s / %-9s %6.1f MB/s  %-10s", format_bytes(done_).c_str(),
                  total_ >= 0 ? format_bytes(total_).c_str() : "?", rate / 1e6, eta.c_str());
    std::string tail = nums;
    // The numbers always show, then the whole name if it fits, then a bar in what remains.
    int cols = terminal_columns();
    std::string pct;
    double frac = total_ > 0 ? std::min(1.0, double(done_) / double(total_)) : -1;
    if (frac >= 0) {
        char p[16];
        std::snprintf(p, sizeof p, " %3d%%", int(frac * 100));
        pct = p;
    }
    int avail = cols - 1 - int(pct.size() + tail.size());
    int name_w = std::min(int(name_.size()), std::max(24, avail));
    int bar_w = std::min(30, avail - name_w - 3);
    std::string bar;
    if (frac >= 0 && bar_w >= 5) {
        int fill = int(frac * bar_w);
        bar = " [" + std::string(size_t(fill), '#') + std::string(size_t(bar_w - fill), '.') + "]";
    }
    std::string name = name_;
    if (int(name.size()) > name_w) {  // keep both ends: "unet/diffu...fp16.safetensors"
        size_t left = size_t(std::max(name_w - 3, 2) / 2), right = size_t(std::max(name_w - 3, 2)) - left;
        name = name.substr(0, left) + "..." + name.substr(name.size() - right);
    }
    std::fprintf(stderr, "\r\033[K%s%s%s%s", name.c_str(), bar.c_str(), pct.c_str(), tail.c_str());
    std::fflush(stderr);
    bar_drawn_ = true;
}

void Progress::end_file(bool ok) {
    if (!active_) return;
    active_ = false;
    if (mode_ == ProgressMode::Bar) {
        if (ok) draw(true);
        std::fputc('\n', stderr);
        std::fflush(stderr);
        bar_drawn_ = false;
    } else if (mode_ == ProgressMode::Lines && ok) {
        double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
        std::string speed;
        if (secs >= 0.05) {
            char buf[64];
            std::snprintf(buf, sizeof buf, " in %.1f s, %.1f MB/s", secs, double(done_ - already_) / secs / 1e6);
            speed = buf;
        }
        std::string resumed = already_ > 0 ? ", resumed at " + format_bytes(already_) : "";
        std::fprintf(stderr, "pulled %s (%s%s%s)\n", name_.c_str(), format_bytes(done_).c_str(), speed.c_str(),
                     resumed.c_str());
        std::fflush(stderr);
    }
}

void Progress::note(const std::string& line) {
    if (mode_ == ProgressMode::None) return;
    if (mode_ == ProgressMode::Bar && bar_drawn_) std::fprintf(stderr, "\r\033[K");
    std::fprintf(stderr, "%s\n", line.c_str());
    if (mode_ == ProgressMode::Bar && active_) draw(false);
    std::fflush(stderr);
}

}  // namespace sdpp::hub
