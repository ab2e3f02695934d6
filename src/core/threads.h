// Thread count for our kernels and oneDNN (both use the OpenMP runtime, so one setting covers both).
#pragma once

namespace sdpp {
void set_num_threads(int n);  // n <= 0: all cores
int num_threads();
}  // namespace sdpp
