// Definitions for config.hpp: inline in header-only mode, compiled once by src/sockets.cpp.
#pragma once

#include <cstdio>
#include <cstdlib>

#include "../config.hpp"

namespace sockets {
SOCKETS_MODE_NAMESPACE_BEGIN
namespace detail {

// The handler's slot. A function-local static rather than a variable: one object per program
// in both modes (an inline function's static is shared by every unit).
SOCKETS_DECL ExceptionHandler& exception_handler_slot() noexcept {
    static ExceptionHandler handler = nullptr;
    return handler;
}

[[noreturn]] SOCKETS_DECL void report_exception(const std::exception& error) noexcept {
    if (ExceptionHandler handler = exception_handler_slot()) handler(error);
    std::fprintf(stderr, "sockets: %s\n", error.what());
    std::fflush(stderr);
    std::abort();
}

}  // namespace detail

SOCKETS_DECL ExceptionHandler set_exception_handler(ExceptionHandler handler) noexcept {
    ExceptionHandler previous = detail::exception_handler_slot();
    detail::exception_handler_slot() = handler;
    return previous;
}

SOCKETS_MODE_NAMESPACE_END
}  // namespace sockets
