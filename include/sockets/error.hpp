/// @file
/// The library's error model.
///
/// Every fallible operation has two forms:
///   - throwing:      throws std::system_error whose what() names the operation and the address,
///                    e.g. "connect 127.0.0.1:9: Connection refused";
///   - non-throwing:  takes std::error_code& as its last argument, clears it on success.
/// OS errors use the OS's category (errno on POSIX, Winsock codes on Windows) and compare equal
/// to the portable std::errc values. Conditions that no OS code describes live in sockets::errc.
#pragma once

#include <cstddef>
#include <string>
#include <system_error>

#include "config.hpp"
#include "detail/platform.hpp"

namespace sockets {

/// The library's own error conditions: what no OS error code describes. `ec == errc::x`
/// compares the condition, so OS and resolver codes match too (see operator==).
enum class errc {
    end_of_stream = 1,   ///< the peer closed before the whole transfer or message arrived
    not_open,            ///< operation on a closed, moved-from or never-opened socket
    invalid_address,     ///< text that is not an address ("1.2.3", "[::1", ...)
    port_out_of_range,   ///< port outside 0..65535
    address_too_long,    ///< a Unix-domain path that does not fit sun_path
    message_too_large,   ///< a frame or line above the configured limit
    not_stream_socket,   ///< send_all/recv_exact on a datagram socket
    datagram_truncated,  ///< the datagram was larger than the buffer; the rest is lost
    handle_out_of_range, ///< select: a descriptor >= FD_SETSIZE (or a full fd_set on Windows)
    already_registered,  ///< a Poller already watches this handle
    not_registered,      ///< a Poller does not watch this handle
    // Resolver conditions: resolve()'s errors (EAI_* / WSAHOST_NOT_FOUND... in resolve_category)
    // compare equal to these, so `ec == errc::host_not_found` works on every platform.
    host_not_found,         ///< no such name (EAI_NONAME, EAI_NODATA; WSAHOST_NOT_FOUND, WSANO_DATA)
    try_again,              ///< temporary resolver failure, e.g. no DNS server reachable (EAI_AGAIN)
    resolver_failure,       ///< non-recoverable resolver failure (EAI_FAIL, WSANO_RECOVERY)
    no_address_for_family,  ///< the name exists but has no address of the asked family (EAI_ADDRFAMILY)
    missing_port,           ///< "host:port" text without a port
    invalid_port,           ///< a port that is not a plain decimal number
};

/// The category of sockets::errc codes ("sockets").
inline const std::error_category& error_category() noexcept;
/// The category of resolver (getaddrinfo) errors ("resolve"); they compare equal to the
/// resolver conditions of sockets::errc.
inline const std::error_category& resolve_category() noexcept;

}  // namespace sockets

// Declared before any use of errc as an error code, which would instantiate the primary template.
namespace std {
/// Makes sockets::errc an error-code enum: `ec = sockets::errc::not_open` works.
template <>
struct is_error_code_enum<sockets::errc> : true_type {};
}  // namespace std

namespace sockets {

namespace detail {

class LibraryCategory final : public std::error_category {
public:
    const char* name() const noexcept override { return "sockets"; }
    std::string message(int code) const override {
        switch (static_cast<errc>(code)) {
            case errc::end_of_stream: return "peer closed the connection before the transfer completed";
            case errc::not_open: return "socket is not open";
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
        }
        return "unknown sockets error";
    }
    std::error_condition default_error_condition(int code) const noexcept override {
        switch (static_cast<errc>(code)) {
            case errc::not_open: return std::errc::bad_file_descriptor;
            case errc::invalid_address:
            case errc::port_out_of_range:
            case errc::missing_port:
            case errc::invalid_port: return std::errc::invalid_argument;
            case errc::address_too_long: return std::errc::filename_too_long;
            case errc::message_too_large: return std::errc::message_size;
            case errc::not_stream_socket: return std::errc::wrong_protocol_type;
            case errc::already_registered: return std::errc::file_exists;
            case errc::not_registered: return std::errc::no_such_file_or_directory;
            default: return {code, *this};
        }
    }
    // Resolver codes (and, on Windows, the same WSA codes reported by other calls) are
    // equivalent to the resolver conditions.
    bool equivalent(const std::error_code& code, int condition) const noexcept override;
};

// The resolver condition for an EAI_* (POSIX) or WSA* (Windows) code, or 0.
inline int resolver_condition(int code) noexcept {
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

// getaddrinfo's errors are EAI_* codes, not errno values; gai_strerror explains them.
class ResolveCategory final : public std::error_category {
public:
    const char* name() const noexcept override { return "resolve"; }
    std::string message(int code) const override {
#if defined(_WIN32)
        return os_category().message(code);
#else
        return ::gai_strerror(code);
#endif
    }
    std::error_condition default_error_condition(int code) const noexcept override {
        int condition = resolver_condition(code);
        if (condition == 0) return {code, *this};
        return {condition, sockets::error_category()};
    }
};

inline bool LibraryCategory::equivalent(const std::error_code& code, int condition) const noexcept {
    if (code.category() == *this) return code.value() == condition;
    bool resolver_code = code.category() == resolve_category();
#if defined(_WIN32)
    resolver_code = resolver_code || code.category() == os_category();
#endif
    return resolver_code && resolver_condition(code.value()) == condition;
}

}  // namespace detail

inline const std::error_category& error_category() noexcept {
    static const detail::LibraryCategory category;
    return category;
}

inline const std::error_category& resolve_category() noexcept {
    static const detail::ResolveCategory category;
    return category;
}

/// The std::error_code for e, in error_category().
inline std::error_code make_error_code(errc e) noexcept {
    return {static_cast<int>(e), error_category()};
}

/// `ec == errc::x` tests the condition, not only the exact code: a resolver error (category
/// resolve_category()) equals errc::host_not_found. errc is an error-code enum (so `ec = errc::x`
/// works), and std's own operator== would compare categories and values exactly; these exact
/// matches win overload resolution.
///@{
inline bool operator==(const std::error_code& ec, errc e) noexcept {
    return ec == std::error_condition(static_cast<int>(e), error_category());
}
inline bool operator==(errc e, const std::error_code& ec) noexcept { return ec == e; }
inline bool operator!=(const std::error_code& ec, errc e) noexcept { return !(ec == e); }
inline bool operator!=(errc e, const std::error_code& ec) noexcept { return !(ec == e); }
///@}

/// Thrown by send_all/recv_exact and friends: the bytes that did move before the error are
/// part of the result, never lost. what() names the operation and the peer ("send_all with
/// 203.0.113.7:443: Connection reset by peer"), also after a reset (which makes the OS forget
/// the peer: Linux still tells it; elsewhere the local address is named then). A socket with
/// no peer (an unconnected datagram socket) is named by its local address ("recv on ...").
class TransferError : public std::system_error {
public:
    /// The error, the operation's description for what(), and how many bytes moved.
    TransferError(std::error_code ec, const std::string& what, std::size_t bytes)
        : std::system_error(ec, what), bytes_transferred_(bytes) {}
    /// How many bytes were sent or received before the error.
    std::size_t bytes_transferred() const noexcept { return bytes_transferred_; }

private:
    std::size_t bytes_transferred_;
};

namespace detail {

[[noreturn]] inline void throw_error(std::error_code ec, const std::string& what) {
    throw_exception(std::system_error(ec, what));
}

inline void throw_if(std::error_code ec, const char* operation) {
    if (ec) throw_error(ec, operation);
}

}  // namespace detail
}  // namespace sockets
