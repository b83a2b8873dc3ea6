/// @file
/// Address: a value type for one socket endpoint (IPv4, IPv6 or Unix-domain), and resolve().
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

#include "config.hpp"
#include "detail/platform.hpp"
#include "error.hpp"

namespace sockets {
SOCKETS_MODE_NAMESPACE_BEGIN

/// An address family.
enum class Family {
    unspecified,  ///< no address, or any family (for resolve)
    ipv4,         ///< AF_INET
    ipv6,         ///< AF_INET6
    unix_domain,  ///< AF_UNIX (Unix-domain sockets; Windows 10 and later too)
};

/// A socket type.
enum class Type {
    stream,    ///< SOCK_STREAM: TCP or a Unix-domain stream
    datagram,  ///< SOCK_DGRAM: UDP or a Unix-domain datagram socket
};

namespace detail {

inline int to_native(Family f) noexcept {
    switch (f) {
        case Family::ipv4: return AF_INET;
        case Family::ipv6: return AF_INET6;
#if SOCKETS_HAS_UNIX_DOMAIN
        case Family::unix_domain: return AF_UNIX;
#endif
        default: return AF_UNSPEC;
    }
}

inline int to_native(Type t) noexcept { return t == Type::stream ? SOCK_STREAM : SOCK_DGRAM; }

// Ports arrive as int so that 65536 or -1 is an error the user sees, not a silent wrap.
inline bool valid_port(int port) noexcept { return port >= 0 && port <= 65535; }

enum class PortText { ok, invalid, out_of_range };

// Decimal digits only (no sign, space or hex). Leading zeros are allowed: "000080" is 80; only
// the value decides whether the port is in range.
SOCKETS_DECL PortText parse_port(std::string_view text, int& port) noexcept;
SOCKETS_DECL bool looks_like_unbracketed_ipv6(std::string_view text);

// "host:port" or "[v6]:port" split as resolve_host_port does (errors: missing_port,
// invalid_port, port_out_of_range, invalid_address); host is a view into text.
SOCKETS_DECL bool split_host_port(std::string_view text, std::string_view& host, int& port,
                                  std::error_code& ec);

// Owns a getaddrinfo list, so that an exception while copying it cannot leak it.
class AddrinfoList {
public:
    AddrinfoList() = default;
    AddrinfoList(const AddrinfoList&) = delete;
    AddrinfoList& operator=(const AddrinfoList&) = delete;
    ~AddrinfoList() {
        if (list_) ::freeaddrinfo(list_);
    }
    addrinfo** out() noexcept { return &list_; }
    const addrinfo* get() const noexcept { return list_; }

private:
    addrinfo* list_ = nullptr;
};

}  // namespace detail

/// One socket endpoint, IPv4, IPv6 or Unix-domain: a value (copyable, comparable) holding a
/// native sockaddr_storage.
class Address {
public:
    /// An empty address: family() == Family::unspecified.
    Address() noexcept { std::memset(&storage_, 0, sizeof storage_); }

    /// Copies a native sockaddr (e.g. from accept or getaddrinfo). Too long a length is clamped.
    Address(const sockaddr* addr, detail::socklen length) noexcept : Address() {
        if (!(length > 0)) length = 0;  // socklen is signed on Windows
        if (static_cast<std::size_t>(length) > sizeof storage_) length = sizeof storage_;
        std::memcpy(&storage_, addr, static_cast<std::size_t>(length));
        length_ = length;
    }

    /// "127.0.0.1:8080", "[::1]:8080", "[fe80::1%eth0]:80". Numeric only: names go to resolve().
    ///@{
    static Address parse(std::string_view text, std::error_code& ec);
#if !defined(SOCKETS_NO_EXCEPTIONS)
    static Address parse(std::string_view text);
#endif
    ///@}

    /// A numeric IP ("10.0.0.1", "::1", "fe80::1%2") and a port.
    ///@{
    static Address from_ip(std::string_view ip, int port, std::error_code& ec);
#if !defined(SOCKETS_NO_EXCEPTIONS)
    static Address from_ip(std::string_view ip, int port);
#endif
    ///@}

    /// 127.0.0.1 or ::1.
    static Address loopback(Family family, int port = 0);

    /// 0.0.0.0 or ::, for listening on every interface.
    static Address any(Family family, int port = 0);

#if SOCKETS_HAS_UNIX_DOMAIN
    /// A filesystem path. A path that does not fit sun_path is an error, never truncated.
    ///@{
    static Address unix_path(std::string_view path, std::error_code& ec);
#if !defined(SOCKETS_NO_EXCEPTIONS)
    static Address unix_path(std::string_view path);
#endif
    ///@}
#if defined(__linux__)
    /// Linux abstract namespace: no file is created; the name vanishes with the last socket.
    ///@{
    static Address unix_abstract(std::string_view name, std::error_code& ec);
#if !defined(SOCKETS_NO_EXCEPTIONS)
    static Address unix_abstract(std::string_view name);
#endif
    ///@}
#endif
#endif

    /// The family; Family::unspecified for an empty address.
    Family family() const noexcept {
        if (length_ == 0) return Family::unspecified;
        switch (storage_.ss_family) {
            case AF_INET: return Family::ipv4;
            case AF_INET6: return Family::ipv6;
#if SOCKETS_HAS_UNIX_DOMAIN
            case AF_UNIX: return Family::unix_domain;
#endif
            default: return Family::unspecified;
        }
    }

    /// The port; 0 for Unix-domain and empty addresses.
    std::uint16_t port() const noexcept {
        switch (family()) {
            case Family::ipv4: return ntohs(as<sockaddr_in>()->sin_port);
            case Family::ipv6: return ntohs(as<sockaddr_in6>()->sin6_port);
            default: return 0;
        }
    }

    /// A copy with another port (IPv4 and IPv6; others are copied unchanged). Throws
    /// errc::port_out_of_range outside 0..65535.
    Address with_port(int port) const;

    /// An IPv6 address of the form \::ffff:a.b.c.d: what a dual-stack listener sees for IPv4 peers.
    bool is_v4_mapped() const noexcept;

    /// The IPv4 address inside a v4-mapped one; any other address is returned unchanged.
    Address unmapped() const;

    /// 127.0.0.0/8, ::1, or a v4-mapped 127.x.y.z.
    bool is_loopback() const noexcept;

    /// The host part alone: "127.0.0.1", "::1", "fe80::1%2", or the Unix path ("@name" if abstract).
    std::string ip() const;

    /// "127.0.0.1:80", "[::1]:80", "/tmp/socket", "@abstract", or "(unspecified)".
    std::string to_string() const;

    /// The native view, for calls this library does not wrap.
    ///@{
    const sockaddr* data() const noexcept { return reinterpret_cast<const sockaddr*>(&storage_); }
    sockaddr* data() noexcept { return reinterpret_cast<sockaddr*>(&storage_); }
    ///@}
    /// The length of the native address in bytes (socklen_t, or int on Windows).
    detail::socklen size() const noexcept { return length_; }
    /// The room in data(): sizeof(sockaddr_storage).
    static constexpr detail::socklen capacity() noexcept { return sizeof(sockaddr_storage); }
    /// Sets the length after a native call filled data() (e.g. getsockname).
    void resize(detail::socklen length) noexcept { length_ = length; }

    /// Same family, address and port (and IPv6 scope); Unix-domain: the same raw name.
    ///@{
    friend bool operator==(const Address& a, const Address& b) noexcept;
    friend bool operator!=(const Address& a, const Address& b) noexcept { return !(a == b); }
    ///@}

private:
    template <class T>
    T* as() noexcept { return reinterpret_cast<T*>(&storage_); }
    template <class T>
    const T* as() const noexcept { return reinterpret_cast<const T*>(&storage_); }

#if SOCKETS_HAS_UNIX_DOMAIN
    static Address make_unix(std::string_view path, bool abstract, std::error_code& ec);

    // Empty for an unnamed socket, "\0name" for an abstract one, the path (without the NUL that
    // some kernels count in the length and some don't) for a file: one view for each kind.
    std::string_view unix_raw_name() const noexcept;

    std::string unix_name() const;
#endif

    sockaddr_storage storage_;
    detail::socklen length_ = 0;
};

/// All addresses for host and port, in the resolver's order. No AI_ADDRCONFIG: with it,
/// "localhost" fails on a machine whose only interface is loopback. Errors are in
/// resolve_category() and compare equal to errc::host_not_found, errc::try_again, ...
///@{
SOCKETS_DECL std::vector<Address> resolve(std::string_view host, int port, Family family, Type type,
                                          std::error_code& ec);

SOCKETS_DECL std::vector<Address> resolve(std::string_view host, int port, std::error_code& ec);
#if !defined(SOCKETS_NO_EXCEPTIONS)
SOCKETS_DECL std::vector<Address> resolve(std::string_view host, int port, Family family = Family::unspecified,
                                          Type type = Type::stream);
#endif
///@}

/// For command-line tools: "host:port", "[ipv6]:port" or "1.2.3.4:port" text, split and resolved
/// (the host may be a name or a numeric address; the port must be decimal, leading zeros allowed).
/// Errors: errc::missing_port, errc::invalid_port, errc::port_out_of_range, errc::invalid_address
/// for text that does not split, and resolve()'s errors (errc::host_not_found, ...).
///@{
SOCKETS_DECL std::vector<Address> resolve_host_port(std::string_view text, Family family, Type type,
                                                    std::error_code& ec);

SOCKETS_DECL std::vector<Address> resolve_host_port(std::string_view text, std::error_code& ec);
#if !defined(SOCKETS_NO_EXCEPTIONS)
SOCKETS_DECL std::vector<Address> resolve_host_port(std::string_view text, Family family = Family::unspecified,
                                                    Type type = Type::stream);
#endif
///@}

SOCKETS_MODE_NAMESPACE_END
}  // namespace sockets

#if !defined(SOCKETS_SEPARATE_COMPILATION)
#include "impl/address.ipp"
#endif
