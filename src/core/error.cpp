// The key function of sdpp::Error (include/sdpp/error.hpp): its vtable and typeinfo are emitted
// here, once, and exported from libsdpp.
#include <sdpp/error.hpp>

namespace sdpp {

Error::~Error() = default;

}  // namespace sdpp
