// Where `sdpp generate` writes: output names from a pattern, and the checks that run before the
// model loads so that a run which cannot save its images fails before it spends minutes on them.
#pragma once
#include <cstdint>
#include <string>

namespace sdpp::cli {

// Output path of image `index` with `seed`: {seed} and {index} are replaced; a plain path gets
// "-<index>" before its extension when the run makes more than one image.
std::string output_path(const std::string& pattern, int64_t seed, int index, int count);

// Throws a one-line sdpp::Error unless `path` can be written: no existing file (unless
// `overwrite`), an existing folder, and a file can really be created there (a probe file is made
// and removed, which catches read-only and virtual file systems such as /proc).
void check_writable(const std::string& path, bool overwrite, const char* what);

}  // namespace sdpp::cli
