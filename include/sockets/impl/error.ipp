// Definitions for error.hpp: inline in header-only mode, compiled once by src/sockets.cpp.
#pragma once

#include "../error.hpp"

namespace sockets {
SOCKETS_MODE_NAMESPACE_BEGIN

namespace detail {

SOCKETS_DECL std::string LibraryCategory::message(int code) const {
    switch (static_cast<errc>(code)) {
        case errc::end_of_stream: return "peer closed the connection before the transfer completed";
        case errc::not_open: return "not open (closed or moved from)";
        case errc::invalid_address: return "invalid address";
        case errc::port_out_of_range: return "port out of range (0..65535)";
        case errc::address_too_long: return "Unix-domain path too long";
        case errc::message_too_large: return "message exceeds the size limit";
        case errc::not_stream_socket: return "operation needs a stream socket";
        case errc::datagram_truncated: return "datagram larger than the buffer was truncated";
        case errc::handle_out_of_range: return "handle cannot be used with select (FD_SETSIZE)";
        case errc::already_registered: return "handle is already registered";
        case errc::not_registered: return "handle is not registered";
        case errc::host_not_found: return "host not found";
        case errc::try_again: return "temporary failure in name resolution";
        case errc::resolver_failure: return "non-recoverable failure in name resolution";
        case errc::no_address_for_family: return "host has no address of the requested family";
        case errc::missing_port: return "no port (expected host:port or [ipv6]:port)";
        case errc::invalid_port: return "port is not a decimal number";
        case errc::empty_buffer: return "receive into an empty buffer (size it first, or call recv_some)";
        case errc::cancelled: return "cancelled by an Interrupter";
        case errc::not_numeric:
            return "host is a name, not a numeric address (Address::parse takes numbers only: "
                   "names go to resolve_host_port or connect_to)";
        case errc::ipv6_needs_brackets: return "an IPv6 address with a port needs brackets: [v6]:port";
    }
    return "unknown sockets error";
}

SOCKETS_DECL std::error_condition LibraryCategory::default_error_condition(int code) const noexcept {
    switch (static_cast<errc>(code)) {
        case errc::not_open: return std::errc::bad_file_descriptor;
        case errc::invalid_address:
        case errc::port_out_of_range:
        case errc::missing_port:
        case errc::invalid_port:
        case errc::empty_buffer:
        case errc::not_numeric:
        case errc::ipv6_needs_brackets: return std::errc::invalid_argument;
        case errc::cancelled: return std::errc::operation_canceled;
        case errc::address_too_long: return std::errc::filename_too_long;
        case errc::message_too_large: return std::errc::message_size;
        case errc::not_stream_socket: return std::errc::wrong_protocol_type;
        case errc::already_registered: return std::errc::file_exists;
        case errc::not_registered: return std::errc::no_such_file_or_directory;
        default: return {code, *this};
    }
}

SOCKETS_DECL bool LibraryCategory::equivalent(const std::error_code& code, int condition) const noexcept {
    if (code.category() == *this) {
        // The refined address errors are invalid addresses too, for code written before them.
        bool refined = code.value() == static_cast<int>(errc::not_numeric) ||
                       code.value() == static_cast<int>(errc::ipv6_needs_brackets);
        return code.value() == condition || (refined && condition == static_cast<int>(errc::invalid_address));
    }
    bool resolver_code = code.category() == resolve_category();
#if defined(_WIN32)
    resolver_code = resolver_code || code.category() == os_category();
#endif
    return resolver_code && resolver_condition(code.value()) == condition;
}

SOCKETS_DECL int resolver_condition(int code) noexcept {
    switch (code) {
#if defined(_WIN32)
        case WSAHOST_NOT_FOUND:
        case WSANO_DATA: return static_cast<int>(errc::host_not_found);
        case WSATRY_AGAIN: return static_cast<int>(errc::try_again);
        case WSANO_RECOVERY: return static_cast<int>(errc::resolver_failure);
#else
        case EAI_NONAME:
#if defined(EAI_NODATA) && EAI_NODATA != EAI_NONAME
        case EAI_NODATA:
#endif
            return static_cast<int>(errc::host_not_found);
        case EAI_AGAIN: return static_cast<int>(errc::try_again);
        case EAI_FAIL: return static_cast<int>(errc::resolver_failure);
#if defined(EAI_ADDRFAMILY)
        case EAI_ADDRFAMILY: return static_cast<int>(errc::no_address_for_family);
#endif
#endif
        default: return 0;
    }
}

SOCKETS_DECL std::string ResolveCategory::message(int code) const {
#if defined(_WIN32)
    return os_category().message(code);
#else
    return ::gai_strerror(code);
#endif
}

SOCKETS_DECL std::error_condition ResolveCategory::default_error_condition(int code) const noexcept {
    int condition = resolver_condition(code);
    if (condition == 0) return {code, *this};
    return {condition, sockets::error_category()};
}

SOCKETS_DECL void throw_error(std::error_code ec, const std::string& what) {
    throw_exception(std::system_error(ec, what));
}

}  // namespace detail

SOCKETS_DECL const std::error_category& error_category() noexcept {
    static const detail::LibraryCategory category;
    return category;
}

SOCKETS_DECL const std::error_category& resolve_category() noexcept {
    static const detail::ResolveCategory category;
    return category;
}

SOCKETS_MODE_NAMESPACE_END
}  // namespace sockets
