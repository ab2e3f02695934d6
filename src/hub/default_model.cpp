// The default model on first use; see default_model.h.
#include "hub/default_model.h"

#include "hub/pull.h"

namespace sdpp::hub {

std::string ensure_default_model(const HubConfig& cfg, ProgressMode progress) {
    PullOptions o;
    o.revision = kDefaultModel.revision;
    o.progress = progress;
    if (std::string cached = cached_pull_path(cfg, kDefaultModel.repo, "", o); !cached.empty()) return cached;
    const std::string how = detail::concat("get it with `sdpp pull ", kDefaultModel.repo,
                                           "` when online, or pass a local model with -m FILE");
    try {
        return pull(cfg, kDefaultModel.repo, "", o).path;
    } catch (const Unreachable&) {
        throw error("no --model given and the default model ", kDefaultModel.repo, " is not in the cache (",
                    cfg.cache_dir, "); the hub at ", cfg.endpoint, " cannot be reached: ", how);
    } catch (const Error& e) {
        throw error("no --model given and pulling the default model ", kDefaultModel.repo, " failed: ", e.what(),
                    "; ", how);
    }
}

}  // namespace sdpp::hub

namespace sdpp {

std::string ensure_default_model() {
    return hub::ensure_default_model(hub::hub_config_from_env(), hub::ProgressMode::Auto);
}

}  // namespace sdpp
