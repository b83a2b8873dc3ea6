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

#include "detail/platform.hpp"
#include "error.hpp"

namespace sockets {

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
inline PortText parse_port(std::string_view text, int& port) noexcept {
    if (text.empty() || text.find_first_not_of("0123456789") != std::string_view::npos)
        return PortText::invalid;
    auto first = text.find_first_not_of('0');
    std::string_view digits = first == std::string_view::npos ? std::string_view() : text.substr(first);
    if (digits.size() > 5) return PortText::out_of_range;
    int value = 0;
    for (char c : digits) value = value * 10 + (c - '0');
    if (!valid_port(value)) return PortText::out_of_range;
    port = value;
    return PortText::ok;
}

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
    static Address parse(std::string_view text, std::error_code& ec) {
        ec.clear();
        std::string_view host, port_text;
        if (!text.empty() && text.front() == '[') {
            auto close = text.find(']');
            if (close == std::string_view::npos || close + 1 >= text.size() || text[close + 1] != ':') {
                ec = errc::invalid_address;
                return {};
            }
            host = text.substr(1, close - 1);
            port_text = text.substr(close + 2);
            if (host.find(':') == std::string_view::npos) {
                ec = errc::invalid_address;  // "[1.2.3.4]:80": brackets are for IPv6 only
                return {};
            }
        } else {
            auto colon = text.rfind(':');
            if (colon == std::string_view::npos || text.find(':') != colon) {
                ec = errc::invalid_address;  // bare IPv6 must be bracketed to carry a port
                return {};
            }
            host = text.substr(0, colon);
            port_text = text.substr(colon + 1);
        }
        int port = 0;
        switch (detail::parse_port(port_text, port)) {
            case detail::PortText::ok: break;
            case detail::PortText::invalid: ec = errc::invalid_address; return {};
            case detail::PortText::out_of_range: ec = errc::port_out_of_range; return {};
        }
        return from_ip(host, port, ec);
    }

    static Address parse(std::string_view text) {
        std::error_code ec;
        Address a = parse(text, ec);
        if (ec) detail::throw_error(ec, "parse address \"" + std::string(text) + "\"");
        return a;
    }
    ///@}

    /// A numeric IP ("10.0.0.1", "::1", "fe80::1%2") and a port.
    ///@{
    static Address from_ip(std::string_view ip, int port, std::error_code& ec) {
        ec.clear();
        if (!detail::valid_port(port)) {
            ec = errc::port_out_of_range;
            return {};
        }
        // Longest IPv6 text plus a scope name; anything longer is not an address.
        if (ip.empty() || ip.size() > 64 || ip.find('\0') != std::string_view::npos) {
            ec = errc::invalid_address;
            return {};
        }
        std::string host(ip);
        Address a;
        auto v4 = reinterpret_cast<sockaddr_in*>(&a.storage_);
        if (ip.find(':') == std::string_view::npos) {
            if (::inet_pton(AF_INET, host.c_str(), &v4->sin_addr) != 1) {
                ec = errc::invalid_address;
                return {};
            }
            v4->sin_family = AF_INET;
            v4->sin_port = htons(static_cast<std::uint16_t>(port));
            a.length_ = sizeof(sockaddr_in);
            detail::set_sockaddr_length(a.as<sockaddr>(), sizeof(sockaddr_in));
            return a;
        }
        // IPv6, possibly with a scope ("%eth0" or "%2"): getaddrinfo with AI_NUMERICHOST parses
        // both forms and never touches the network.
        addrinfo hints{};
        hints.ai_family = AF_INET6;
        hints.ai_flags = AI_NUMERICHOST;
        detail::AddrinfoList result;
        detail::ensure_network();
        if (::getaddrinfo(host.c_str(), nullptr, &hints, result.out()) != 0 || !result.get()) {
            ec = errc::invalid_address;
            return {};
        }
        a = Address(result.get()->ai_addr, static_cast<detail::socklen>(result.get()->ai_addrlen));
        reinterpret_cast<sockaddr_in6*>(&a.storage_)->sin6_port = htons(static_cast<std::uint16_t>(port));
        return a;
    }

    static Address from_ip(std::string_view ip, int port) {
        std::error_code ec;
        Address a = from_ip(ip, port, ec);
        if (ec) detail::throw_error(ec, "address " + std::string(ip) + " port " + std::to_string(port));
        return a;
    }
    ///@}

    /// 127.0.0.1 or ::1.
    static Address loopback(Family family, int port = 0) {
        return from_ip(family == Family::ipv6 ? "::1" : "127.0.0.1", port);
    }

    /// 0.0.0.0 or ::, for listening on every interface.
    static Address any(Family family, int port = 0) {
        return from_ip(family == Family::ipv6 ? "::" : "0.0.0.0", port);
    }

#if SOCKETS_HAS_UNIX_DOMAIN
    /// A filesystem path. A path that does not fit sun_path is an error, never truncated.
    ///@{
    static Address unix_path(std::string_view path, std::error_code& ec) {
        return make_unix(path, false, ec);
    }
    static Address unix_path(std::string_view path) {
        std::error_code ec;
        Address a = unix_path(path, ec);
        if (ec) detail::throw_error(ec, "unix address " + std::string(path));
        return a;
    }
    ///@}
#if defined(__linux__)
    /// Linux abstract namespace: no file is created; the name vanishes with the last socket.
    ///@{
    static Address unix_abstract(std::string_view name, std::error_code& ec) {
        return make_unix(name, true, ec);
    }
    static Address unix_abstract(std::string_view name) {
        std::error_code ec;
        Address a = unix_abstract(name, ec);
        if (ec) detail::throw_error(ec, "unix abstract address " + std::string(name));
        return a;
    }
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
    Address with_port(int port) const {
        if (!detail::valid_port(port))
            detail::throw_error(errc::port_out_of_range, "port " + std::to_string(port));
        Address a = *this;
        if (family() == Family::ipv4) a.as<sockaddr_in>()->sin_port = htons(static_cast<std::uint16_t>(port));
        if (family() == Family::ipv6) a.as<sockaddr_in6>()->sin6_port = htons(static_cast<std::uint16_t>(port));
        return a;
    }

    /// An IPv6 address of the form \::ffff:a.b.c.d: what a dual-stack listener sees for IPv4 peers.
    bool is_v4_mapped() const noexcept {
        if (family() != Family::ipv6) return false;
        const auto* b = reinterpret_cast<const unsigned char*>(&as<sockaddr_in6>()->sin6_addr);
        for (int i = 0; i < 10; ++i)
            if (b[i] != 0) return false;
        return b[10] == 0xFF && b[11] == 0xFF;
    }

    /// The IPv4 address inside a v4-mapped one; any other address is returned unchanged.
    Address unmapped() const {
        if (!is_v4_mapped()) return *this;
        Address a;
        auto* v4 = a.as<sockaddr_in>();
        v4->sin_family = AF_INET;
        v4->sin_port = as<sockaddr_in6>()->sin6_port;
        std::memcpy(&v4->sin_addr, reinterpret_cast<const unsigned char*>(&as<sockaddr_in6>()->sin6_addr) + 12, 4);
        a.length_ = sizeof(sockaddr_in);
        detail::set_sockaddr_length(a.as<sockaddr>(), sizeof(sockaddr_in));
        return a;
    }

    /// 127.0.0.0/8, ::1, or a v4-mapped 127.x.y.z.
    bool is_loopback() const noexcept {
        if (family() == Family::ipv4)
            return (ntohl(as<sockaddr_in>()->sin_addr.s_addr) >> 24) == 127;
        if (family() == Family::ipv6) {
            if (is_v4_mapped()) return unmapped().is_loopback();
            const auto* b = reinterpret_cast<const unsigned char*>(&as<sockaddr_in6>()->sin6_addr);
            for (int i = 0; i < 15; ++i)
                if (b[i] != 0) return false;
            return b[15] == 1;
        }
        return false;
    }

    /// The host part alone: "127.0.0.1", "::1", "fe80::1%2", or the Unix path ("@name" if abstract).
    std::string ip() const {
        char text[INET6_ADDRSTRLEN + 16] = {};
        switch (family()) {
            case Family::ipv4:
                ::inet_ntop(AF_INET, const_cast<in_addr*>(&as<sockaddr_in>()->sin_addr), text, sizeof text);
                return text;
            case Family::ipv6: {
                const auto* v6 = as<sockaddr_in6>();
                ::inet_ntop(AF_INET6, const_cast<in6_addr*>(&v6->sin6_addr), text, sizeof text);
                std::string out = text;
                if (v6->sin6_scope_id != 0) out += "%" + std::to_string(v6->sin6_scope_id);
                return out;
            }
#if SOCKETS_HAS_UNIX_DOMAIN
            case Family::unix_domain: return unix_name();
#endif
            default: return {};
        }
    }

    /// "127.0.0.1:80", "[::1]:80", "/tmp/socket", "@abstract", or "(unspecified)".
    std::string to_string() const {
        switch (family()) {
            case Family::ipv4: return ip() + ":" + std::to_string(port());
            case Family::ipv6: return "[" + ip() + "]:" + std::to_string(port());
            case Family::unix_domain: return ip();
            default: return "(unspecified)";
        }
    }

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
    friend bool operator==(const Address& a, const Address& b) noexcept {
        if (a.family() != b.family()) return false;
        switch (a.family()) {
            case Family::ipv4:
                return a.port() == b.port() &&
                       a.as<sockaddr_in>()->sin_addr.s_addr == b.as<sockaddr_in>()->sin_addr.s_addr;
            case Family::ipv6:
                return a.port() == b.port() &&
                       a.as<sockaddr_in6>()->sin6_scope_id == b.as<sockaddr_in6>()->sin6_scope_id &&
                       std::memcmp(&a.as<sockaddr_in6>()->sin6_addr, &b.as<sockaddr_in6>()->sin6_addr,
                                   sizeof(in6_addr)) == 0;
#if SOCKETS_HAS_UNIX_DOMAIN
            // The raw name, not the display text: a file "@srv" is not the abstract "srv", and
            // a file "(unnamed)" is not an unnamed socket.
            case Family::unix_domain: return a.unix_raw_name() == b.unix_raw_name();
#endif
            default: return true;
        }
    }
    friend bool operator!=(const Address& a, const Address& b) noexcept { return !(a == b); }
    ///@}

private:
    template <class T>
    T* as() noexcept { return reinterpret_cast<T*>(&storage_); }
    template <class T>
    const T* as() const noexcept { return reinterpret_cast<const T*>(&storage_); }

#if SOCKETS_HAS_UNIX_DOMAIN
    static Address make_unix(std::string_view path, bool abstract, std::error_code& ec) {
        ec.clear();
        Address a;
        auto* un = a.as<sockaddr_un>();
        // A filesystem path needs room for its terminating NUL; an abstract name starts with one.
        std::size_t room = sizeof(un->sun_path) - 1;
        if (path.size() > room) {
            ec = errc::address_too_long;
            return {};
        }
        // A NUL inside a path would silently cut it short; in an abstract name it is a byte.
        if (!abstract && (path.empty() || path.find('\0') != std::string_view::npos)) {
            ec = errc::invalid_address;
            return {};
        }
        un->sun_family = AF_UNIX;
        std::size_t offset = abstract ? 1 : 0;
        std::memcpy(un->sun_path + offset, path.data(), path.size());
        a.length_ = static_cast<detail::socklen>(offsetof(sockaddr_un, sun_path) + offset + path.size() +
                                                 (abstract ? 0 : 1));
        detail::set_sockaddr_length(a.as<sockaddr>(), static_cast<std::size_t>(a.length_));
        return a;
    }

    // Empty for an unnamed socket, "\0name" for an abstract one, the path (without the NUL that
    // some kernels count in the length and some don't) for a file: one view for each kind.
    std::string_view unix_raw_name() const noexcept {
        const auto* un = as<sockaddr_un>();
        std::size_t base = offsetof(sockaddr_un, sun_path);
        std::size_t n = static_cast<std::size_t>(length_) > base ? static_cast<std::size_t>(length_) - base : 0;
        if (n > sizeof un->sun_path) n = sizeof un->sun_path;
        if (n == 0) return {};
        if (un->sun_path[0] == '\0')
            return detail::unix_abstract_names ? std::string_view{un->sun_path, n} : std::string_view{};
        return {un->sun_path, ::strnlen(un->sun_path, n)};
    }

    std::string unix_name() const {
        std::string_view raw = unix_raw_name();
        if (raw.empty()) return "(unnamed)";
        if (raw.front() == '\0') return "@" + std::string(raw.substr(1));
        return std::string(raw);
    }
#endif

    sockaddr_storage storage_;
    detail::socklen length_ = 0;
};

/// All addresses for host and port, in the resolver's order. No AI_ADDRCONFIG: with it,
/// "localhost" fails on a machine whose only interface is loopback. Errors are in
/// resolve_category() and compare equal to errc::host_not_found, errc::try_again, ...
///@{
inline std::vector<Address> resolve(std::string_view host, int port, Family family, Type type,
                                    std::error_code& ec) {
    ec.clear();
    std::vector<Address> out;
    if (!detail::valid_port(port)) {
        ec = errc::port_out_of_range;
        return out;
    }
    if (host.empty() || host.size() > 253 || host.find('\0') != std::string_view::npos) {
        ec = errc::invalid_address;
        return out;
    }
    detail::ensure_network();
    addrinfo hints{};
    hints.ai_family = detail::to_native(family);
    hints.ai_socktype = detail::to_native(type);
    hints.ai_flags = 0;  // deliberately no AI_ADDRCONFIG (see above)
    detail::AddrinfoList result;
    std::string host_text(host), port_text = std::to_string(port);
    int rc = ::getaddrinfo(host_text.c_str(), port_text.c_str(), &hints, result.out());
    if (rc != 0) {
#if defined(EAI_SYSTEM)
        ec = rc == EAI_SYSTEM ? detail::last_error() : std::error_code(rc, resolve_category());
#else
        ec = std::error_code(rc, resolve_category());
#endif
        return out;
    }
    for (const addrinfo* ai = result.get(); ai; ai = ai->ai_next) {
        Address a(ai->ai_addr, static_cast<detail::socklen>(ai->ai_addrlen));
        bool seen = false;
        for (const auto& b : out) seen = seen || a == b;
        if (!seen) out.push_back(a);
    }
    return out;
}

inline std::vector<Address> resolve(std::string_view host, int port, std::error_code& ec) {
    return resolve(host, port, Family::unspecified, Type::stream, ec);
}

inline std::vector<Address> resolve(std::string_view host, int port, Family family = Family::unspecified,
                                    Type type = Type::stream) {
    std::error_code ec;
    auto out = resolve(host, port, family, type, ec);
    if (ec) detail::throw_error(ec, "resolve " + std::string(host) + ":" + std::to_string(port));
    return out;
}
///@}

/// For command-line tools: "host:port", "[ipv6]:port" or "1.2.3.4:port" text, split and resolved
/// (the host may be a name or a numeric address; the port must be decimal, leading zeros allowed).
/// Errors: errc::missing_port, errc::invalid_port, errc::port_out_of_range, errc::invalid_address
/// for text that does not split, and resolve()'s errors (errc::host_not_found, ...).
///@{
inline std::vector<Address> resolve_host_port(std::string_view text, Family family, Type type,
                                              std::error_code& ec) {
    ec.clear();
    std::string_view host, port_text;
    if (!text.empty() && text.front() == '[') {
        auto close = text.find(']');
        if (close == std::string_view::npos || close == 1 ||
            text.substr(1, close - 1).find(':') == std::string_view::npos) {
            ec = errc::invalid_address;  // brackets hold an IPv6 address and nothing else
            return {};
        }
        host = text.substr(1, close - 1);
        if (close + 1 == text.size()) {
            ec = errc::missing_port;
            return {};
        }
        if (text[close + 1] != ':') {
            ec = errc::invalid_address;
            return {};
        }
        port_text = text.substr(close + 2);
    } else {
        auto colon = text.find(':');
        if (colon == std::string_view::npos) {
            ec = errc::missing_port;
            return {};
        }
        if (text.find(':', colon + 1) != std::string_view::npos) {
            // "::1" is an IPv6 address with no port (it needs brackets to carry one); "a:b:80" is nothing.
            std::error_code not_ip;
            Address::from_ip(text, 0, not_ip);
            ec = not_ip ? errc::invalid_address : errc::missing_port;
            return {};
        }
        host = text.substr(0, colon);
        port_text = text.substr(colon + 1);
    }
    if (host.empty()) {
        ec = errc::invalid_address;
        return {};
    }
    if (port_text.empty()) {
        ec = errc::missing_port;
        return {};
    }
    int port = 0;
    switch (detail::parse_port(port_text, port)) {
        case detail::PortText::ok: break;
        case detail::PortText::invalid: ec = errc::invalid_port; return {};
        case detail::PortText::out_of_range: ec = errc::port_out_of_range; return {};
    }
    return resolve(host, port, family, type, ec);
}

inline std::vector<Address> resolve_host_port(std::string_view text, std::error_code& ec) {
    return resolve_host_port(text, Family::unspecified, Type::stream, ec);
}

inline std::vector<Address> resolve_host_port(std::string_view text, Family family = Family::unspecified,
                                              Type type = Type::stream) {
    std::error_code ec;
    auto out = resolve_host_port(text, family, type, ec);
    if (ec) detail::throw_error(ec, "resolve \"" + std::string(text) + "\"");
    return out;
}
///@}

}  // namespace sockets
