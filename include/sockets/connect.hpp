/// @file
/// connect_to: one call from an address, a list of candidate addresses, or a host name to a
/// connected TCP socket (handed back in blocking mode, like a plain connect's).
///
/// Several candidates race (RFC 8305, "Happy Eyeballs"): one unreachable address (a broken IPv6
/// route, a dead server among several A records, a firewall dropping SYNs) costs one connection
/// attempt delay (250 ms by default), not the whole timeout. Non-blocking connects on one
/// readiness wait, no threads. A host name is resolved within the same deadline, on a resolver
/// thread, because getaddrinfo itself cannot be interrupted.
#pragma once

#include <chrono>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

#include "config.hpp"
#include "address.hpp"
#include "socket.hpp"
#include "timeout.hpp"

namespace sockets {
SOCKETS_MODE_NAMESPACE_BEGIN

/// How connect_to races several candidate addresses.
struct ConnectOptions {
    /// RFC 8305's "Connection Attempt Delay": how long an attempt runs alone before the next
    /// candidate starts beside it (an attempt that fails starts the next at once, unless the
    /// deadline has passed: a zero timeout makes the first attempt only). Zero starts
    /// every candidate at once.
    std::chrono::milliseconds attempt_delay{250};
};

/// One candidate that failed, and why.
struct ConnectAttempt {
    Address address;        ///< the candidate
    std::error_code error;  ///< why it failed
};

/// Thrown by connect_to when no candidate connected. what() lists every address tried with its
/// own error; code() is timed_out when the deadline passed, else the last attempt's error.
/// A host name that did not resolve (in time) throws it too, with no attempts and the
/// resolver's error (or timed_out) as code(). Without exceptions (SOCKETS_NO_EXCEPTIONS) the
/// throwing forms are absent and the std::error_code forms report the same code().
class ConnectError : public std::system_error {
public:
    /// The error for code(), the text for what(), and every failed attempt.
    ConnectError(std::error_code ec, const std::string& what, std::vector<ConnectAttempt> attempts);
    /// Copies share the attempts (reference-counted): copying an exception must not throw.
    ///@{
    ConnectError(const ConnectError& other) noexcept : std::system_error(other), shared_(other.shared_) {
        detail::ref_acquire(shared_->references);
    }
    ConnectError& operator=(const ConnectError& other) noexcept;
    ///@}
    ~ConnectError() override { release(); }
    /// In the order they ended; candidates never started (deadline passed first) are left out.
    const std::vector<ConnectAttempt>& attempts() const noexcept { return shared_->attempts; }

private:
    struct Shared {
        detail::RefCount references;
        std::vector<ConnectAttempt> attempts;
    };
    void release() noexcept {
        if (detail::ref_release(shared_->references)) delete shared_;
    }
    Shared* shared_;
};

namespace detail {
// RFC 8305 section 4: the candidates with the families alternating, IPv6 first.
SOCKETS_DECL std::vector<Address> interleave_families(const std::vector<Address>& candidates);
// A ConnectError's what(): "connect host:port ([::1]:80: Connection timed out; 127.0.0.1:80:
// Connection refused; 1 more not tried)". head names what was asked for ("connect" or
// "connect host:port"). The event loop's connect says the same.
SOCKETS_DECL std::string describe_attempts(std::string head, const std::vector<ConnectAttempt>& failed,
                                           std::size_t untried);
SOCKETS_DECL std::string host_port_text(std::string_view host, int port);
}  // namespace detail

// ---- one address -------------------------------------------------------------------------

/// A new TCP socket connected to address (within timeout, if given; then std::errc::timed_out),
/// handed back in blocking mode.
///@{
[[nodiscard]] SOCKETS_DECL Socket connect_to(const Address& address, std::error_code& ec);
[[nodiscard]] SOCKETS_DECL Socket connect_to(const Address& address, Timeout timeout, std::error_code& ec);
#if !defined(SOCKETS_NO_EXCEPTIONS)
[[nodiscard]] SOCKETS_DECL Socket connect_to(const Address& address);
[[nodiscard]] SOCKETS_DECL Socket connect_to(const Address& address, Timeout timeout);
#endif
///@}

// ---- several candidate addresses: raced (RFC 8305) ---------------------------------------
/// IPv6 and IPv4 alternate, IPv6 first; each attempt gets options.attempt_delay alone before
/// the next starts beside it; the first to connect wins and the others are closed. Without a
/// timeout each attempt lasts as long as the kernel's own connect timeout. A Unix-domain
/// candidate whose listener's backlog is full is connected again (backing off 1 to 64 ms)
/// until there is room or the deadline passes (without a timeout: until there is room), as
/// the single-address form waits. The throwing forms throw ConnectError; an empty list is
/// std::errc::invalid_argument.
///@{
[[nodiscard]] SOCKETS_DECL Socket connect_to(const std::vector<Address>& candidates, Timeout timeout, const ConnectOptions& options,
                               std::error_code& ec);
[[nodiscard]] SOCKETS_DECL Socket connect_to(const std::vector<Address>& candidates, Timeout timeout, std::error_code& ec);
[[nodiscard]] SOCKETS_DECL Socket connect_to(const std::vector<Address>& candidates, std::error_code& ec);
#if !defined(SOCKETS_NO_EXCEPTIONS)
[[nodiscard]] SOCKETS_DECL Socket connect_to(const std::vector<Address>& candidates, Timeout timeout, const ConnectOptions& options);
[[nodiscard]] SOCKETS_DECL Socket connect_to(const std::vector<Address>& candidates, Timeout timeout);
[[nodiscard]] SOCKETS_DECL Socket connect_to(const std::vector<Address>& candidates);
#endif
///@}

// ---- a host name: resolved, then raced -----------------------------------------------------
/// With a timeout, one deadline covers resolution and every attempt: when it passes while
/// getaddrinfo is still running, the call returns timed_out at once (the lookup finishes on its
/// own thread and is thrown away). A lookup cannot be tried without waiting, so a zero (or
/// already passed) timeout with a host name is timed_out at once, with no lookup. Numeric hosts
/// ("127.0.0.1", "::1") skip the resolver. The error_code forms never throw.
///@{
[[nodiscard]] SOCKETS_DECL Socket connect_to(std::string_view host, int port, Timeout timeout, const ConnectOptions& options,
                               std::error_code& ec);
[[nodiscard]] SOCKETS_DECL Socket connect_to(std::string_view host, int port, Timeout timeout, std::error_code& ec);
[[nodiscard]] SOCKETS_DECL Socket connect_to(std::string_view host, int port, std::error_code& ec);
#if !defined(SOCKETS_NO_EXCEPTIONS)
[[nodiscard]] SOCKETS_DECL Socket connect_to(std::string_view host, int port, Timeout timeout, const ConnectOptions& options);
[[nodiscard]] SOCKETS_DECL Socket connect_to(std::string_view host, int port, Timeout timeout);
[[nodiscard]] SOCKETS_DECL Socket connect_to(std::string_view host, int port);
#endif
///@}

// ---- "host:port" text ----------------------------------------------------------------------
/// The same from "host:port" text: `connect_to("localhost:8080", 5s)`, `"[::1]:8080"`,
/// `"192.0.2.7:443"`. The text splits as resolve_host_port splits it (errc::missing_port,
/// errc::invalid_port, errc::port_out_of_range, errc::invalid_address; a bare IPv6 address
/// needs brackets to carry a port), then the host is resolved and raced under the one deadline,
/// as above. The throwing forms throw ConnectError naming the text.
///@{
[[nodiscard]] SOCKETS_DECL Socket connect_to(std::string_view host_port, Timeout timeout, const ConnectOptions& options,
                                             std::error_code& ec);
[[nodiscard]] SOCKETS_DECL Socket connect_to(std::string_view host_port, Timeout timeout, std::error_code& ec);
[[nodiscard]] SOCKETS_DECL Socket connect_to(std::string_view host_port, std::error_code& ec);
#if !defined(SOCKETS_NO_EXCEPTIONS)
[[nodiscard]] SOCKETS_DECL Socket connect_to(std::string_view host_port, Timeout timeout, const ConnectOptions& options);
[[nodiscard]] SOCKETS_DECL Socket connect_to(std::string_view host_port, Timeout timeout);
[[nodiscard]] SOCKETS_DECL Socket connect_to(std::string_view host_port);
#endif
///@}

SOCKETS_MODE_NAMESPACE_END
}  // namespace sockets

#if !defined(SOCKETS_SEPARATE_COMPILATION)
#include "impl/connect.ipp"
#endif
