// Read-only file mappings whose resident pages may be given back. io's MappedFile registers its
// mappings here, so that lower layers (the backend, once it has prepared its own copy of a
// weight) can drop a tensor's file pages without knowing where the tensor came from.
#pragma once
#include <cstddef>

namespace sdpp {

void register_file_mapping(const std::byte* p, size_t n);
void unregister_file_mapping(const std::byte* p, size_t n);

// Drops the resident pages of [p, p + n) (madvise DONTNEED, whole pages inside the range only)
// when the range lies inside one registered mapping. The mapping is read-only, so nothing is
// lost: a later read faults the pages back in from the page cache. Returns the bytes released; 0
// for any other memory (DONTNEED on anonymous memory would zero it), so callers may pass any
// tensor's data. Holds the registry's lock, so the mapping cannot go away meanwhile.
size_t release_file_pages(const void* p, size_t n);

}  // namespace sdpp
