// core/cache_root.h: XDG_CACHE_HOME when absolute, else HOME/.cache, else nothing.
#include "core/cache_root.h"

#include <gtest/gtest.h>

#include <cstdlib>
#include <optional>
#include <string>

namespace sdpp {
namespace {

// Sets (or, for nullopt, unsets) an environment variable for one scope.
class EnvVar {
public:
    EnvVar(const char* name, std::optional<std::string> value) : name_(name) {
        if (const char* old = std::getenv(name)) old_ = old;
        if (value) ::setenv(name, value->c_str(), 1);
        else ::unsetenv(name);
    }
    ~EnvVar() {
        if (old_) ::setenv(name_, old_->c_str(), 1);
        else ::unsetenv(name_);
    }

private:
    const char* name_;
    std::optional<std::string> old_;
};

TEST(CoreCacheRoot, XdgThenHomeThenNothing) {
    EnvVar home("HOME", "/home/x");
    {
        EnvVar xdg("XDG_CACHE_HOME", "/var/cache/x");
        EXPECT_EQ(cache_root(), "/var/cache/x/sdpp");
    }
    {
        EnvVar xdg("XDG_CACHE_HOME", "relative/cache");  // the XDG spec: a relative path is ignored
        EXPECT_EQ(cache_root(), "/home/x/.cache/sdpp");
    }
    EnvVar xdg("XDG_CACHE_HOME", std::nullopt);
    EXPECT_EQ(cache_root(), "/home/x/.cache/sdpp");
    EnvVar no_home("HOME", std::nullopt);
    EXPECT_EQ(cache_root(), "");
}

}  // namespace
}  // namespace sdpp
