// The one folder sdpp caches into: downloaded models (src/hub), the CLIP vocabulary (src/text) and
// the model-hash cache (src/pipeline) all live under it.
#pragma once
#include <string>

namespace sdpp {

// $XDG_CACHE_HOME/sdpp when XDG_CACHE_HOME is an absolute path (the XDG base-directory spec says
// to ignore a relative one), else $HOME/.cache/sdpp; "" when neither is set.
std::string cache_root();

}  // namespace sdpp
