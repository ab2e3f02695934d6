// Large anonymous buffers (activation blocks, prepared weights, merged LoRA weights) mapped on
// 2 MiB boundaries with transparent huge pages requested. Fresh memory is paid per page fault: a
// U-Net's first step maps ~1.7 GB of prepared weights and every step ~300 MB of activation blocks,
// which at 4 KiB are hundreds of thousands of faults (each costly in a VM). Where THP is off the
// hint is ignored and this is a plain mmap.
#pragma once
#include <cstddef>

namespace sdpp {

// `bytes` of zeroed memory, 2 MiB-aligned when bytes >= 2 MiB; nullptr when out of memory.
std::byte* map_big(size_t bytes);
// Gives back a block from map_big (same size).
void unmap_big(std::byte* p, size_t bytes);

}  // namespace sdpp
