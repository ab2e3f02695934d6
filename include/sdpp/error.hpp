// sdpp public API: the exception every library failure a caller can cause is reported with.
// Self-contained: includes nothing from src/.
#pragma once
#include <sdpp/export.h>

#include <stdexcept>

namespace sdpp {

// A one-line message naming the problem (a bad file, option, size or name). Catch it by type:
//     try { sdpp::Engine e({.model = path}); } catch (const sdpp::Error& e) { ... }
class SDPP_API Error : public std::runtime_error {
public:
    using std::runtime_error::runtime_error;
    // Defined in the library, so the type's vtable and typeinfo live once in libsdpp and a
    // catch in the embedding program matches what the library throws.
    ~Error() override;
};

}  // namespace sdpp
