// The seed helpers (seed_from_text, seed_text, seed_plus, image_seed) are public API: declared in
// include/sdpp/sdpp.hpp, defined in seed.cpp. This header stays for the pipeline sources that
// include it.
#pragma once
#include <sdpp/sdpp.hpp>
