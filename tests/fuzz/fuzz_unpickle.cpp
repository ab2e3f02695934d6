// libFuzzer target: the restricted unpickler (src/io/unpickle.cpp) on arbitrary bytes.
// Accepted pickles are walked (iteratively, cycles allowed) and every tensor node's view is
// re-checked against its storage: a violation aborts, which libFuzzer reports as a crash.
#include "io/unpickle.h"

#include <cstdint>
#include <cstdlib>
#include <unordered_set>

using namespace sdpp::pickle;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    Limits lim;
    lim.max_values = 1 << 20;
    lim.max_memory_bytes = 256 << 20;
    try {
        Pickle pk = unpickle(std::span(reinterpret_cast<const std::byte*>(data), size), "fuzz", lim);
        std::vector<const Value*> todo = {pk.root()};
        std::unordered_set<const Value*> seen;
        size_t steps = 0;
        while (!todo.empty() && ++steps < 100000) {
            const Value* v = todo.back();
            todo.pop_back();
            if (!v || !seen.insert(v).second) continue;
            (void)describe(v);
            for (const Value* c : v->items) todo.push_back(c);
            for (const auto& [k, x] : v->dict) {
                todo.push_back(k);
                todo.push_back(x);
                if (k->kind == Kind::Str && k->s.size() <= kMaxIndexedKey && dict_get(v, k->s) == nullptr) abort();
            }
            if (v->state) todo.push_back(v->state);
            if (v->kind == Kind::Tensor) {
                if (!v->tensor) abort();
                const TensorRef& t = *v->tensor;
                if (!t.storage || t.storage->kind != Kind::Storage || !t.storage->storage) abort();
                const int64_t numel = t.storage->storage->numel;
                if (t.size.size() != t.stride.size() || t.offset < 0 || t.offset > numel) abort();
                __int128 last = t.offset, n = 1;
                for (size_t i = 0; i < t.size.size(); ++i) {
                    if (t.size[i] < 0 || t.stride[i] < 0) abort();
                    n *= t.size[i];
                    if (t.size[i] > 0) last += __int128(t.size[i] - 1) * t.stride[i];
                }
                if (n > 0 && last >= numel) abort();
            }
        }
    } catch (const sdpp::Error&) {
    }
    return 0;
}
