/* SDPP_API marks the declarations libsdpp exports. The library is compiled with
 * -fvisibility=hidden, so whatever lacks the mark stays internal to it. SDPP_LOCAL hides what an
 * exported class would otherwise export with it (its private nested Impl). C and C++. */
#ifndef SDPP_EXPORT_H
#define SDPP_EXPORT_H

#if defined(__GNUC__) || defined(__clang__)
#define SDPP_API __attribute__((visibility("default")))
#define SDPP_LOCAL __attribute__((visibility("hidden")))
#else
#define SDPP_API
#define SDPP_LOCAL
#endif

#endif /* SDPP_EXPORT_H */
