// Extra-network tags (see extra_networks.h).
#include "text/extra_networks.h"

#include "core/error.h"

#include <cmath>
#include <cstdlib>

namespace sdpp::text {

namespace {

// Python's \w on str: ASCII letters, digits, '_'; every non-ASCII byte is taken as a letter.
bool is_word(unsigned char c) { return std::isalnum(c) || c == '_' || c >= 0x80; }

std::vector<std::string> split(const std::string& s, char sep) {
    std::vector<std::string> out;
    size_t start = 0;
    for (;;) {
        size_t p = s.find(sep, start);
        out.push_back(s.substr(start, p == std::string::npos ? std::string::npos : p - start));
        if (p == std::string::npos) return out;
        start = p + 1;
    }
}

// Python float(): surrounding white space allowed, the rest must be a number.
float to_float(const std::string& s, const ExtraNetworkTag& tag) {
    const char* b = s.c_str();
    char* end = nullptr;
    double v = std::strtod(b, &end);
    while (end && (*end == ' ' || *end == '\t' || *end == '\n' || *end == '\r')) ++end;
    if (s.empty() || end == b || *end != '\0' || !std::isfinite(v)) {
        std::string args;
        for (size_t i = 0; i < tag.items.size(); ++i) args += (i ? ":" : "") + tag.items[i];
        throw error("<", tag.type, ":", args, ">: '", s, "' is not a number");
    }
    return float(v);
}

}  // namespace

ExtraNetworkPrompt parse_extra_networks(const std::string& prompt) {
    ExtraNetworkPrompt out;
    const size_t n = prompt.size();
    size_t i = 0;
    while (i < n) {
        if (prompt[i] == '<') {
            size_t p = i + 1;
            while (p < n && is_word(static_cast<unsigned char>(prompt[p]))) ++p;
            if (p > i + 1 && p < n && prompt[p] == ':') {
                size_t close = prompt.find('>', p + 1);
                if (close != std::string::npos && close > p + 1) {
                    ExtraNetworkTag tag;
                    tag.type = prompt.substr(i + 1, p - i - 1);
                    tag.items = split(prompt.substr(p + 1, close - p - 1), ':');
                    for (const std::string& item : tag.items) {
                        std::vector<std::string> kv = split(item, '=');
                        if (kv.size() == 2) tag.named[kv[0]] = kv[1];
                        else tag.positional.push_back(item);
                    }
                    out.tags.push_back(std::move(tag));
                    i = close + 1;
                    continue;
                }
            }
        }
        out.text.push_back(prompt[i]);
        ++i;
    }
    return out;
}

std::vector<LoraTag> lora_tags(const std::vector<ExtraNetworkTag>& tags) {
    std::vector<LoraTag> out;
    for (const ExtraNetworkTag& t : tags) {
        if (t.type != "lora" && t.type != "lyco") continue;
        if (t.positional.empty() || t.positional[0].empty()) throw error("<", t.type, ":...>: no network name");
        LoraTag l;
        l.name = t.positional[0];
        l.te_multiplier = t.positional.size() > 1 ? to_float(t.positional[1], t) : 1.0f;
        if (auto it = t.named.find("te"); it != t.named.end()) l.te_multiplier = to_float(it->second, t);
        l.unet_multiplier = t.positional.size() > 2 ? to_float(t.positional[2], t) : l.te_multiplier;
        if (auto it = t.named.find("unet"); it != t.named.end()) l.unet_multiplier = to_float(it->second, t);
        out.push_back(std::move(l));
    }
    return out;
}

}  // namespace sdpp::text
