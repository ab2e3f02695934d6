// Download progress on stderr: a redrawn bar (bytes, MB/s, ETA) when stderr is a terminal,
// otherwise one line per finished file, so logs stay readable.
#pragma once
#include <chrono>
#include <cstdint>
#include <string>

namespace sdpp::hub {

enum class ProgressMode {
    Auto,   // Bar when stderr is a terminal, else Lines
    Bar,
    Lines,
    None,
};

class Progress {
public:
    explicit Progress(ProgressMode mode);
    ~Progress();

    ProgressMode mode() const { return mode_; }
    // A file starts; `already` bytes were there before (a resumed .part).
    void begin_file(const std::string& name, int64_t total, int64_t already);
    void update(int64_t done);  // bytes of the file present so far, `already` included
    void restart(int64_t done);  // the server restarted the file: speed counts from here
    void end_file(bool ok);
    // A line that does not garble the bar (e.g. "resuming at 12 MB").
    void note(const std::string& line);

private:
    void draw(bool final);

    ProgressMode mode_;
    std::string name_;
    int64_t total_ = -1, already_ = 0, done_ = 0;
    bool active_ = false, bar_drawn_ = false;
    std::chrono::steady_clock::time_point start_, last_draw_;
};

// "1.5 GB", "12.3 MB", "512 B"
std::string format_bytes(int64_t n);

}  // namespace sdpp::hub
