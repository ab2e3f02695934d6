// sdpp public API: the exception every library failure a caller can cause is reported with.
// Self-contained: includes nothing from src/.
#pragma once
#include <sdpp/export.h>

#include <sstream>
#include <stdexcept>
#include <string>

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

namespace detail {
template <class... Args>
std::string concat(const Args&... args) {
    std::ostringstream os;
    (os << ... << args);
    return os.str();
}
}  // namespace detail

// An Error whose message is the stream-able pieces written one after another, the way the library
// builds its own: throw sdpp::error("--steps ", n, " is out of range (1..10000)").
template <class... Args>
Error error(const Args&... args) {
    return Error(detail::concat(args...));
}

}  // namespace sdpp
