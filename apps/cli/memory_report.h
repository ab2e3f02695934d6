// Memory figures the generate and bench commands print: the process's max RSS and a byte count in
// human units.
#pragma once
#include <cstddef>
#include <string>

namespace sdpp::cli {

size_t max_rss_bytes();               // getrusage high-water mark of this process
std::string human_bytes(double b);    // "1.23 GiB"

}  // namespace sdpp::cli
