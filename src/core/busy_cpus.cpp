#include "core/busy_cpus.h"

#include <fcntl.h>
#include <time.h>
#include <unistd.h>

namespace sdpp {

int other_runnable_tasks(std::string_view line) {
    // Skip the three load averages to the "running/total" field.
    size_t i = 0;
    for (int field = 0; field < 3; ++field) {
        while (i < line.size() && line[i] != ' ') ++i;
        while (i < line.size() && line[i] == ' ') ++i;
    }
    int running = 0, digits = 0;
    for (; i < line.size() && line[i] >= '0' && line[i] <= '9' && digits < 9; ++i, ++digits)
        running = running * 10 + (line[i] - '0');
    if (digits == 0 || i >= line.size() || line[i] != '/') return -1;
    return running >= 1 ? running - 1 : 0;  // the reader is one of them
}

int other_runnable_tasks_now(int samples, int gap_us) {
    int least = -1;
    for (int s = 0; s < samples; ++s) {
        if (s > 0) {
            const timespec gap{0, long(gap_us) * 1000};
            nanosleep(&gap, nullptr);
        }
        char buf[256];
        const int fd = open("/proc/loadavg", O_RDONLY | O_CLOEXEC);
        if (fd < 0) return -1;
        const ssize_t n = read(fd, buf, sizeof buf);
        close(fd);
        if (n <= 0) return -1;
        const int others = other_runnable_tasks(std::string_view(buf, size_t(n)));
        if (others < 0) return -1;
        least = least < 0 ? others : (others < least ? others : least);
    }
    return least;
}

}  // namespace sdpp
