// The OpenMP wait policy for this run (wait_policy.cpp): passive waiting when another task is busy
// at start, by executing this program again with OMP_WAIT_POLICY=passive. Call first in main.
#pragma once

namespace sdpp::cli {

void choose_wait_policy(char** argv);

}  // namespace sdpp::cli
