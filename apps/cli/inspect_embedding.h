// `sdpp inspect` for textual-inversion embedding files (apps/cli/inspect_embedding.cpp).
#pragma once
#include <string>

namespace sdpp::cli {

// Prints what the embedding at `path` is (text or JSON) and returns true; returns false without
// printing when the file is not an embedding (then it is inspected as a model).
bool inspect_embedding(const std::string& path, bool json);

}  // namespace sdpp::cli
