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
SOCKETS_MODE_NAMESPACE_BEGIN

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
    empty_buffer,           ///< a receive into an empty container (size it first, or call recv_some)
    cancelled,              ///< an Interrupter stopped the call (interrupt() from another thread)
    not_numeric,            ///< a host name where a numeric address is needed (Address::parse)
    ipv6_needs_brackets,    ///< an IPv6 address with a port, without brackets ("::1:80" for [::1]:80)
};

/// The category of sockets::errc codes ("sockets").
SOCKETS_DECL const std::error_category& error_category() noexcept;
/// The category of resolver (getaddrinfo) errors ("resolve"); they compare equal to the
/// resolver conditions of sockets::errc.
SOCKETS_DECL const std::error_category& resolve_category() noexcept;

SOCKETS_MODE_NAMESPACE_END
}  // namespace sockets

// Declared before any use of errc as an error code, which would instantiate the primary template.
namespace std {
/// Makes sockets::errc an error-code enum: `ec = sockets::errc::not_open` works.
template <>
struct is_error_code_enum<sockets::errc> : true_type {};
}  // namespace std

namespace sockets {
SOCKETS_MODE_NAMESPACE_BEGIN

/// @cond SOCKETS_DETAIL
namespace detail {

class LibraryCategory final : public std::error_category {
public:
    const char* name() const noexcept override { return "sockets"; }
    std::string message(int code) const override;
    std::error_condition default_error_condition(int code) const noexcept override;
    // Resolver codes (and, on Windows, the same WSA codes reported by other calls) are
    // equivalent to the resolver conditions.
    bool equivalent(const std::error_code& code, int condition) const noexcept override;
};

// The resolver condition for an EAI_* (POSIX) or WSA* (Windows) code, or 0.
SOCKETS_DECL int resolver_condition(int code) noexcept;

// getaddrinfo's errors are EAI_* codes, not errno values; gai_strerror explains them.
class ResolveCategory final : public std::error_category {
public:
    const char* name() const noexcept override { return "resolve"; }
    std::string message(int code) const override;
    std::error_condition default_error_condition(int code) const noexcept override;
};

}  // namespace detail
/// @endcond

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

// Reports a failure of a call that has no std::error_code form, or of a throwing form: throws
// std::system_error(ec, what), or without exceptions calls the hook (sockets::throw_exception).
[[noreturn]] SOCKETS_DECL void throw_error(std::error_code ec, const std::string& what);

inline void throw_if(std::error_code ec, const char* operation) {
    if (ec) throw_error(ec, operation);
}

}  // namespace detail

SOCKETS_MODE_NAMESPACE_END
}  // namespace sockets

#if !defined(SOCKETS_SEPARATE_COMPILATION)
#include "impl/error.ipp"
#endif
