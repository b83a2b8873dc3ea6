/// @file
/// Build modes: header-only (the default) or compiled once, with or without exceptions.
///
/// - **Header-only** (default): every header includes its definitions (`impl/NAME.ipp`);
///   `#include <sockets/sockets.hpp>` and go.
/// - **Compiled** (`SOCKETS_SEPARATE_COMPILATION` defined for every unit of the program): the
///   headers declare, and `src/sockets.cpp` (`src/sockets_tls.cpp` for TLS) compiles the
///   definitions once. The CMake targets `sockets::compiled` and `sockets::tls_compiled`, the
///   pkg-config module `sockets-compiled` and Meson's `sockets_compiled_dep` do both for you.
///   The hot paths (a plain send/recv, send_all, recv_exact) stay inline in both modes.
///   Compiled-mode names live in the inline namespace `sockets::compiled`: a program that mixes
///   the modes gets two separate copies, never one name with two definitions, and a sockets
///   type in a signature between units of the two modes fails to link (one inside a struct of
///   your own does not: mixing is unsupported, see the guide's "Build modes"). Without
///   exceptions the namespace is `sockets::compiled_noexc` (header-only: `sockets::noexc`), so
///   the library must be built with the same exceptions setting as the program.
/// - **No exceptions** (`SOCKETS_NO_EXCEPTIONS`, defined here when the compiler has exceptions
///   off, e.g. `-fno-exceptions`): the throwing forms are absent and the `std::error_code`
///   forms work unchanged. A call with no `std::error_code` form (a constructor, for instance)
///   reports failure through sockets::throw_exception, which calls the handler installed with
///   sockets::set_exception_handler (default: print the message to stderr, then std::abort).
///   Allocation failure is not the library's to report: `new` behaves as the standard library
///   makes it (with libstdc++ and libc++, `std::bad_alloc` escaping into code built without
///   exceptions ends the program through std::terminate).
#pragma once

#include <exception>

#if !defined(SOCKETS_NO_EXCEPTIONS) && !defined(__cpp_exceptions) && !defined(__EXCEPTIONS) && \
    !defined(_CPPUNWIND)
#define SOCKETS_NO_EXCEPTIONS
#endif

/// @cond SOCKETS_DETAIL
// SOCKETS_DECL marks a definition in impl/*.ipp: inline when the header includes it (header-only
// mode), an ordinary definition when src/sockets.cpp compiles it once.
// SOCKETS_MODE_NAMESPACE_BEGIN/END go just inside `namespace sockets { ... }` of every header: a
// mode other than the default (header-only, with exceptions) puts the names in an inline
// namespace of its own, so units built in different modes never share a mangled name (no
// definition of one mode can stand in for the other's at link time).
#if defined(SOCKETS_SEPARATE_COMPILATION)
#define SOCKETS_DECL
#if defined(SOCKETS_NO_EXCEPTIONS)
#define SOCKETS_MODE_NAMESPACE_BEGIN inline namespace compiled_noexc {
#else
#define SOCKETS_MODE_NAMESPACE_BEGIN inline namespace compiled {
#endif
#define SOCKETS_MODE_NAMESPACE_END }
#else
#define SOCKETS_DECL inline
#if defined(SOCKETS_NO_EXCEPTIONS)
#define SOCKETS_MODE_NAMESPACE_BEGIN inline namespace noexc {
#define SOCKETS_MODE_NAMESPACE_END }
#else
#define SOCKETS_MODE_NAMESPACE_BEGIN
#define SOCKETS_MODE_NAMESPACE_END
#endif
#endif
/// @endcond

namespace sockets {
SOCKETS_MODE_NAMESPACE_BEGIN

/// What sockets::throw_exception calls when exceptions are off. It must not return (if it
/// does, the default handler's line is printed and std::abort follows); it may end the
/// program, or jump out (longjmp) if you know that
/// is safe where the library failed.
using ExceptionHandler = void (*)(const std::exception& error);

/// Installs the handler used when exceptions are off (nullptr: the default, which prints
/// `sockets: ` and what() to stderr, then calls std::abort); returns the previous one. Install
/// it once at start-up, before other threads use the library. Unused when exceptions are on.
SOCKETS_DECL ExceptionHandler set_exception_handler(ExceptionHandler handler) noexcept;

/// @cond SOCKETS_DETAIL
namespace detail {
[[noreturn]] SOCKETS_DECL void report_exception(const std::exception& error) noexcept;
}  // namespace detail
/// @endcond

/// Where the library itself throws: throws error, or, under SOCKETS_NO_EXCEPTIONS, hands it to
/// the handler of set_exception_handler (then std::abort if that returns). Like Asio's
/// throw_exception and {fmt}'s FMT_THROW.
template <class Exception>
[[noreturn]] void throw_exception(const Exception& error) {
#if defined(SOCKETS_NO_EXCEPTIONS)
    detail::report_exception(error);
#else
    throw error;
#endif
}

SOCKETS_MODE_NAMESPACE_END
}  // namespace sockets

#if !defined(SOCKETS_SEPARATE_COMPILATION)
#include "impl/config.ipp"
#endif
