// /proc/loadavg's running-task count, as the CLI's start-up choice of OpenMP wait policy reads it.
#include "core/busy_cpus.h"

#include <gtest/gtest.h>

namespace sdpp {
namespace {

TEST(CoreBusyCpus, OtherRunnableTasksFromTheLoadavgLine) {
    EXPECT_EQ(other_runnable_tasks("0.52 0.61 0.70 3/120 4242\n"), 2);
    EXPECT_EQ(other_runnable_tasks("0.00 0.01 0.05 1/86 4952"), 0);
    EXPECT_EQ(other_runnable_tasks("12.50 11.00 9.75 17/1033 99"), 16);
    EXPECT_EQ(other_runnable_tasks("0.00 0.00 0.00 0/10 1"), 0);
    for (const char* bad : {"", "garbage", "0.1 0.2 0.3", "0.1 0.2 0.3 x/5 1", "0.1 0.2 0.3 12", "1 2 3 /4"})
        EXPECT_EQ(other_runnable_tasks(bad), -1) << bad;
    // This process reads it, so the file is there on Linux; its count is >= 0.
    EXPECT_GE(other_runnable_tasks_now(2, 100), 0);
}

}  // namespace
}  // namespace sdpp
