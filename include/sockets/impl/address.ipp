// Definitions for address.hpp: inline in header-only mode, compiled once by src/sockets.cpp.
#pragma once

#include "../address.hpp"

namespace sockets {
SOCKETS_MODE_NAMESPACE_BEGIN

namespace detail {

SOCKETS_DECL PortText parse_port(std::string_view text, int& port) noexcept {
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

}  // namespace detail

namespace detail {
// "v6:port" without brackets: an IPv6 address, a colon and what reads as a port (any number,
// so "::1:43407" too, though 43407 is no IPv6 group). Only for the hint: it is refused anyway.
SOCKETS_DECL bool looks_like_unbracketed_ipv6(std::string_view text) {
    auto last = text.rfind(':');
    if (last == std::string_view::npos) return false;
    std::string_view prefix = text.substr(0, last);
    if (prefix.find(':') == std::string_view::npos) return false;  // "1.2.3.4:0:0" is no IPv6
    std::error_code not_ip;
    (void)Address::from_ip(prefix, 0, not_ip);
    int ignored = 0;
    return !not_ip && parse_port(text.substr(last + 1), ignored) != PortText::invalid;
}
}  // namespace detail

SOCKETS_DECL Address Address::parse(std::string_view text, std::error_code& ec) {
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
        if (colon != std::string_view::npos && text.find(':') != colon) {
            // "::1:80" is itself a valid IPv6 address: which part is the port cannot be known.
            ec = detail::looks_like_unbracketed_ipv6(text) ? errc::ipv6_needs_brackets : errc::invalid_address;
            return {};
        }
        if (colon == std::string_view::npos) {
            ec = errc::invalid_address;
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
    Address a = from_ip(host, port, ec);
    // A host with anything but digits and dots ("localhost", "example.com") is a name: say
    // where names go instead of calling it an invalid address.
    if (ec == errc::invalid_address && host.find(':') == std::string_view::npos &&
        host.find_first_not_of("0123456789.") != std::string_view::npos)
        ec = errc::not_numeric;
    return a;
}

#if !defined(SOCKETS_NO_EXCEPTIONS)
SOCKETS_DECL Address Address::parse(std::string_view text) {
    std::error_code ec;
    Address a = parse(text, ec);
    if (ec) detail::throw_error(ec, "parse address \"" + std::string(text) + "\"");
    return a;
}
#endif

SOCKETS_DECL Address Address::from_ip(std::string_view ip, int port, std::error_code& ec) {
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

#if !defined(SOCKETS_NO_EXCEPTIONS)
SOCKETS_DECL Address Address::from_ip(std::string_view ip, int port) {
    std::error_code ec;
    Address a = from_ip(ip, port, ec);
    if (ec) detail::throw_error(ec, "address " + std::string(ip) + " port " + std::to_string(port));
    return a;
}
#endif

SOCKETS_DECL Address Address::loopback(Family family, int port) {
    const char* ip = family == Family::ipv6 ? "::1" : "127.0.0.1";
    std::error_code ec;
    Address a = from_ip(ip, port, ec);
    if (ec) detail::throw_error(ec, "address " + std::string(ip) + " port " + std::to_string(port));
    return a;
}

SOCKETS_DECL Address Address::any(Family family, int port) {
    const char* ip = family == Family::ipv6 ? "::" : "0.0.0.0";
    std::error_code ec;
    Address a = from_ip(ip, port, ec);
    if (ec) detail::throw_error(ec, "address " + std::string(ip) + " port " + std::to_string(port));
    return a;
}

SOCKETS_DECL Address Address::with_port(int port) const {
    if (!detail::valid_port(port))
        detail::throw_error(errc::port_out_of_range, "port " + std::to_string(port));
    Address a = *this;
    if (family() == Family::ipv4) a.as<sockaddr_in>()->sin_port = htons(static_cast<std::uint16_t>(port));
    if (family() == Family::ipv6) a.as<sockaddr_in6>()->sin6_port = htons(static_cast<std::uint16_t>(port));
    return a;
}

SOCKETS_DECL bool Address::is_v4_mapped() const noexcept {
    if (family() != Family::ipv6) return false;
    const auto* b = reinterpret_cast<const unsigned char*>(&as<sockaddr_in6>()->sin6_addr);
    for (int i = 0; i < 10; ++i)
        if (b[i] != 0) return false;
    return b[10] == 0xFF && b[11] == 0xFF;
}

SOCKETS_DECL Address Address::unmapped() const {
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

SOCKETS_DECL bool Address::is_loopback() const noexcept {
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

SOCKETS_DECL std::string Address::ip() const {
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

SOCKETS_DECL std::string Address::to_string() const {
    switch (family()) {
        case Family::ipv4: return ip() + ":" + std::to_string(port());
        case Family::ipv6: return "[" + ip() + "]:" + std::to_string(port());
        case Family::unix_domain: return ip();
        default: return "(unspecified)";
    }
}

SOCKETS_DECL bool operator==(const Address& a, const Address& b) noexcept {
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

#if SOCKETS_HAS_UNIX_DOMAIN
SOCKETS_DECL Address Address::unix_path(std::string_view path, std::error_code& ec) {
    return make_unix(path, false, ec);
}

#if !defined(SOCKETS_NO_EXCEPTIONS)
SOCKETS_DECL Address Address::unix_path(std::string_view path) {
    std::error_code ec;
    Address a = unix_path(path, ec);
    if (ec) detail::throw_error(ec, "unix address " + std::string(path));
    return a;
}
#endif

#if defined(__linux__)
SOCKETS_DECL Address Address::unix_abstract(std::string_view name, std::error_code& ec) {
    return make_unix(name, true, ec);
}

#if !defined(SOCKETS_NO_EXCEPTIONS)
SOCKETS_DECL Address Address::unix_abstract(std::string_view name) {
    std::error_code ec;
    Address a = unix_abstract(name, ec);
    if (ec) detail::throw_error(ec, "unix abstract address " + std::string(name));
    return a;
}
#endif
#endif  // __linux__

SOCKETS_DECL Address Address::make_unix(std::string_view path, bool abstract, std::error_code& ec) {
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

SOCKETS_DECL std::string_view Address::unix_raw_name() const noexcept {
    const auto* un = as<sockaddr_un>();
    std::size_t base = offsetof(sockaddr_un, sun_path);
    std::size_t n = static_cast<std::size_t>(length_) > base ? static_cast<std::size_t>(length_) - base : 0;
    if (n > sizeof un->sun_path) n = sizeof un->sun_path;
    if (n == 0) return {};
    if (un->sun_path[0] == '\0')
        return detail::unix_abstract_names ? std::string_view{un->sun_path, n} : std::string_view{};
    return {un->sun_path, ::strnlen(un->sun_path, n)};
}

SOCKETS_DECL std::string Address::unix_name() const {
    std::string_view raw = unix_raw_name();
    if (raw.empty()) return "(unnamed)";
    if (raw.front() == '\0') return "@" + std::string(raw.substr(1));
    return std::string(raw);
}
#endif  // SOCKETS_HAS_UNIX_DOMAIN

SOCKETS_DECL std::vector<Address> resolve(std::string_view host, int port, Family family, Type type,
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

SOCKETS_DECL std::vector<Address> resolve(std::string_view host, int port, std::error_code& ec) {
    return resolve(host, port, Family::unspecified, Type::stream, ec);
}

#if !defined(SOCKETS_NO_EXCEPTIONS)
SOCKETS_DECL std::vector<Address> resolve(std::string_view host, int port, Family family, Type type) {
    std::error_code ec;
    auto out = resolve(host, port, family, type, ec);
    if (ec) detail::throw_error(ec, "resolve " + std::string(host) + ":" + std::to_string(port));
    return out;
}
#endif

namespace detail {

SOCKETS_DECL bool split_host_port(std::string_view text, std::string_view& host, int& port,
                                  std::error_code& ec) {
    ec.clear();
    std::string_view port_text;
    if (!text.empty() && text.front() == '[') {
        auto close = text.find(']');
        if (close == std::string_view::npos || close == 1 ||
            text.substr(1, close - 1).find(':') == std::string_view::npos) {
            ec = errc::invalid_address;  // brackets hold an IPv6 address and nothing else
            return false;
        }
        host = text.substr(1, close - 1);
        if (close + 1 == text.size()) {
            ec = errc::missing_port;
            return false;
        }
        if (text[close + 1] != ':') {
            ec = errc::invalid_address;
            return false;
        }
        port_text = text.substr(close + 2);
    } else {
        auto colon = text.find(':');
        if (colon == std::string_view::npos) {
            ec = errc::missing_port;
            return false;
        }
        if (text.find(':', colon + 1) != std::string_view::npos) {
            // "::1" is an IPv6 address with no port (it needs brackets to carry one); "a:b:80" is
            // nothing; "::1:80" reads both as an address and as [::1]:80, so it is refused as
            // ambiguous rather than guessed.
            std::error_code not_ip;
            (void)Address::from_ip(text, 0, not_ip);
            if (looks_like_unbracketed_ipv6(text))
                ec = errc::ipv6_needs_brackets;  // also "::1:43407", which is no address at all
            else
                ec = not_ip ? errc::invalid_address : errc::missing_port;
            return false;
        }
        host = text.substr(0, colon);
        port_text = text.substr(colon + 1);
    }
    if (host.empty()) {
        ec = errc::invalid_address;
        return false;
    }
    if (port_text.empty()) {
        ec = errc::missing_port;
        return false;
    }
    switch (parse_port(port_text, port)) {
        case PortText::ok: return true;
        case PortText::invalid: ec = errc::invalid_port; return false;
        case PortText::out_of_range: ec = errc::port_out_of_range; return false;
    }
    return false;
}

}  // namespace detail

SOCKETS_DECL std::vector<Address> resolve_host_port(std::string_view text, Family family, Type type,
                                              std::error_code& ec) {
    std::string_view host;
    int port = 0;
    if (!detail::split_host_port(text, host, port, ec)) return {};
    return resolve(host, port, family, type, ec);
}

SOCKETS_DECL std::vector<Address> resolve_host_port(std::string_view text, std::error_code& ec) {
    return resolve_host_port(text, Family::unspecified, Type::stream, ec);
}

#if !defined(SOCKETS_NO_EXCEPTIONS)
SOCKETS_DECL std::vector<Address> resolve_host_port(std::string_view text, Family family, Type type) {
    std::error_code ec;
    auto out = resolve_host_port(text, family, type, ec);
    if (ec) detail::throw_error(ec, "resolve \"" + std::string(text) + "\"");
    return out;
}
#endif

SOCKETS_MODE_NAMESPACE_END
}  // namespace sockets
