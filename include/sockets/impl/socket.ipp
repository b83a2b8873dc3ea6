// Definitions for socket.hpp: inline in header-only mode, compiled once by src/sockets.cpp.
#pragma once

#include "../socket.hpp"

#if defined(__linux__)
#include <sys/eventfd.h>
#endif

namespace sockets {
SOCKETS_MODE_NAMESPACE_BEGIN

SOCKETS_DECL std::string detail::describe(const char* operation, const Address& address) {
    std::string text(operation);
    if (address.family() != Family::unspecified) return text + " " + address.to_string();
    // No address (a closed socket has none): "accept", not "accept on".
    for (std::string_view word : {" on", " to", " with", " from"}) {
        if (text.size() > word.size() && text.compare(text.size() - word.size(), word.size(), word) == 0) {
            text.resize(text.size() - word.size());
            break;
        }
    }
    return text;
}

SOCKETS_DECL std::string detail::describe_transfer(const Socket& s, const char* operation) {
    return s.describe_connection(operation);
}

// ---- lifetime ----------------------------------------------------------------------------

SOCKETS_DECL Socket Socket::open(Family family, Type type, std::error_code& ec) noexcept {
    ec.clear();
    native_handle_type h = detail::open_socket(detail::to_native(family), detail::to_native(type), 0);
    if (h == detail::invalid_handle) ec = detail::last_error();
    return Socket(h, type == Type::stream ? Kind::stream : Kind::messages);
}

SOCKETS_DECL Socket Socket::tcp(Family family) {
    std::error_code ec;
    Socket s = open(family, Type::stream, ec);
    if (ec) detail::throw_error(ec, "socket");
    return s;
}

SOCKETS_DECL Socket Socket::udp(Family family) {
    std::error_code ec;
    Socket s = open(family, Type::datagram, ec);
    if (ec) detail::throw_error(ec, "socket");
    return s;
}

SOCKETS_DECL void Socket::close(std::error_code& ec) noexcept {
    ec.clear();
    if (!is_open()) return;
    if (detail::close_handle(release()) != 0) ec = detail::last_error();
}

SOCKETS_DECL void Socket::shutdown(Shutdown how, std::error_code& ec) noexcept {
    if (!check_open(ec)) return;
    int native = how == Shutdown::read ? detail::shut_read
                 : how == Shutdown::write ? detail::shut_write : detail::shut_both;
    if (::shutdown(handle_, native) != 0) ec = detail::last_error();
}

SOCKETS_DECL CloseResult Socket::graceful_close(Timeout timeout, std::error_code& ec) noexcept {
    CloseResult result;
    if (!check_open(ec)) return result;
    std::error_code io_ec;
    // ENOTCONN here means the connection is already over (or never was): the drain below
    // tells which, so the shutdown's own error is not the ending.
    shutdown(Shutdown::write, io_ec);
    io_ec.clear();
    detail::Deadline deadline(timeout);
    char sink[4096];
    while (!io_ec) {
        std::size_t n = transfer(sink, sizeof sink, false, deadline, io_ec);
        if (!io_ec && n == 0) break;
        result.discarded += n;
    }
    result.ending = !io_ec ? CloseResult::peer_closed
                    : io_ec == std::errc::timed_out ? CloseResult::timed_out
                                                     : CloseResult::peer_gone;
    close(ec);
    return result;
}

SOCKETS_DECL std::optional<CloseResult> Socket::try_graceful_close(std::error_code& ec) noexcept {
    CloseResult result;
    if (!check_open(ec)) return std::nullopt;
    std::error_code io_ec;
    shutdown(Shutdown::write, io_ec);  // ENOTCONN: over already; the reads below tell how
    io_ec.clear();
    char sink[4096];
    // Bounded per call: a peer that keeps sending must not keep the caller's loop here.
    for (int reads = 0; reads < 16; ++reads) {
        std::optional<std::size_t> n = try_recv(sink, sizeof sink, io_ec);
        if (io_ec) {
            result.ending = CloseResult::peer_gone;
            close(ec);
            return result;
        }
        if (!n) return std::nullopt;
        if (*n == 0) {
            result.ending = CloseResult::peer_closed;
            close(ec);
            return result;
        }
        result.discarded += *n;
    }
    return std::nullopt;
}

#if !defined(SOCKETS_NO_EXCEPTIONS)
SOCKETS_DECL Socket Socket::open(Family family, Type type) {
    std::error_code ec;
    Socket s = open(family, type, ec);
    detail::throw_if(ec, "socket");
    return s;
}

SOCKETS_DECL void Socket::close() {
    std::error_code ec;
    close(ec);
    detail::throw_if(ec, "close");
}

SOCKETS_DECL void Socket::shutdown(Shutdown how) {
    std::error_code ec;
    shutdown(how, ec);
    detail::throw_if(ec, "shutdown");
}

SOCKETS_DECL CloseResult Socket::graceful_close(Timeout timeout) {
    std::error_code ec;
    CloseResult result = graceful_close(timeout, ec);
    detail::throw_if(ec, "graceful_close");
    return result;
}

SOCKETS_DECL std::optional<CloseResult> Socket::try_graceful_close() {
    std::error_code ec;
    std::optional<CloseResult> result = try_graceful_close(ec);
    detail::throw_if(ec, "try_graceful_close");
    return result;
}
#endif

// ---- connecting --------------------------------------------------------------------------

SOCKETS_DECL void Socket::bind(const Address& address, std::error_code& ec) noexcept {
    if (!check_open(ec)) return;
    if (::bind(handle_, address.data(), address.size()) != 0) ec = detail::last_error();
}

SOCKETS_DECL void Socket::listen(int backlog, std::error_code& ec) noexcept {
    if (!check_open(ec)) return;
    if (::listen(handle_, backlog) != 0) ec = detail::last_error();
}

SOCKETS_DECL void Socket::listen(std::error_code& ec) noexcept { listen(SOMAXCONN, ec); }

SOCKETS_DECL void Socket::connect(const Address& address, std::error_code& ec) noexcept {
    connect_until(address, detail::Deadline(), ec);
}

SOCKETS_DECL void Socket::connect(const Address& address, Timeout timeout, std::error_code& ec) noexcept {
    connect_until(address, detail::Deadline(timeout), ec);
}

SOCKETS_DECL bool Socket::start_connect(const Address& address, std::error_code& ec) noexcept {
    if (!check_open(ec)) return false;
    for (;;) {
        if (::connect(handle_, address.data(), address.size()) == 0) return true;
        int code = detail::last_error_code();
        // EINTR, as in connect_until: on TCP the kernel goes on connecting, so it is under way
        // like EINPROGRESS (finish_connect reads the outcome once writable); a Unix-domain
        // connect was not made, so make it again, unless it was after all.
        if (detail::is_interrupted(code) && address.family() == Family::unix_domain) {
            if (connected_after_interrupt()) return true;
            continue;
        }
        if (!detail::is_in_progress(code) && !detail::is_interrupted(code)) ec = detail::os_error(code);
        return false;
    }
}

SOCKETS_DECL bool Socket::connected_after_interrupt() const noexcept {
    // Asked, not inferred from connecting again: Linux checks the listener's backlog before the
    // socket's own state, so a connect made again on a socket whose connection just filled that
    // backlog answers EAGAIN ("full, retry"), not EISCONN, and would be retried until the
    // deadline.
    std::error_code ec;
    (void)peer_address(ec);
    return !ec;
}

SOCKETS_DECL void Socket::finish_connect(std::error_code& ec) noexcept {
    if (!check_open(ec)) return;
    int error = 0;
    if (get_option(SOL_SOCKET, SO_ERROR, error, ec) && error != 0) ec = detail::os_error(error);
}

SOCKETS_DECL Socket Socket::accept(Address& remote, std::error_code& ec) noexcept {
    return accept_until(&remote, detail::Deadline(), ec);
}

SOCKETS_DECL Socket Socket::accept(std::error_code& ec) noexcept { return accept_until(nullptr, detail::Deadline(), ec); }

SOCKETS_DECL Socket Socket::accept(Address& remote, Timeout timeout, std::error_code& ec) noexcept {
    return accept_until(&remote, detail::Deadline(timeout), ec);
}

SOCKETS_DECL Socket Socket::accept(Timeout timeout, std::error_code& ec) noexcept {
    return accept_until(nullptr, detail::Deadline(timeout), ec);
}

SOCKETS_DECL std::optional<Socket> Socket::try_accept(Address* remote, std::error_code& ec) noexcept {
    if (!check_open(ec)) return std::nullopt;
    if (detail::set_nonblocking(handle_, true) != 0) {
        ec = detail::last_error();
        return std::nullopt;
    }
    for (;;) {
        int code = 0;
        Socket s = accept_once(remote, code);
        if (s.is_open()) return s;
        if (detail::is_interrupted(code) || accept_retryable(code)) continue;
        if (!detail::is_would_block(code)) ec = detail::os_error(code);
        return std::nullopt;
    }
}

SOCKETS_DECL Address Socket::local_address(std::error_code& ec) const noexcept { return name_of(false, ec); }

SOCKETS_DECL Address Socket::peer_address(std::error_code& ec) const noexcept { return name_of(true, ec); }

#if !defined(SOCKETS_NO_EXCEPTIONS)
SOCKETS_DECL void Socket::bind(const Address& address) {
    std::error_code ec;
    bind(address, ec);
    if (ec) detail::throw_error(ec, detail::describe("bind", address));
}

SOCKETS_DECL void Socket::listen(int backlog) {
    std::error_code ec;
    listen(backlog, ec);
    if (ec) detail::throw_error(ec, detail::describe("listen", local_address_or_empty()));
}

SOCKETS_DECL void Socket::connect(const Address& address) {
    std::error_code ec;
    connect(address, ec);
    if (ec) detail::throw_error(ec, detail::describe("connect", address));
}

SOCKETS_DECL void Socket::connect(const Address& address, Timeout timeout) {
    std::error_code ec;
    connect(address, timeout, ec);
    if (ec) detail::throw_error(ec, detail::describe("connect", address));
}

SOCKETS_DECL bool Socket::start_connect(const Address& address) {
    std::error_code ec;
    bool done = start_connect(address, ec);
    if (ec) detail::throw_error(ec, detail::describe("connect", address));
    return done;
}

SOCKETS_DECL void Socket::finish_connect() {
    std::error_code ec;
    finish_connect(ec);
    if (ec) detail::throw_error(ec, describe_connection("connect"));
}

SOCKETS_DECL Socket Socket::accept(Address& remote) {
    std::error_code ec;
    Socket s = accept(remote, ec);
    if (ec) detail::throw_error(ec, detail::describe("accept on", local_address_or_empty()));
    return s;
}

SOCKETS_DECL Socket Socket::accept() {
    Address ignored;
    return accept(ignored);
}

SOCKETS_DECL Socket Socket::accept(Address& remote, Timeout timeout) {
    std::error_code ec;
    Socket s = accept(remote, timeout, ec);
    if (ec) detail::throw_error(ec, detail::describe("accept on", local_address_or_empty()));
    return s;
}

SOCKETS_DECL Socket Socket::accept(Timeout timeout) {
    Address ignored;
    return accept(ignored, timeout);
}

SOCKETS_DECL std::optional<Socket> Socket::try_accept(Address* remote) {
    std::error_code ec;
    auto s = try_accept(remote, ec);
    if (ec) detail::throw_error(ec, detail::describe("accept on", local_address_or_empty()));
    return s;
}

SOCKETS_DECL Address Socket::local_address() const {
    std::error_code ec;
    Address a = local_address(ec);
    detail::throw_if(ec, "getsockname");
    return a;
}

SOCKETS_DECL Address Socket::peer_address() const {
    std::error_code ec;
    Address a = peer_address(ec);
    detail::throw_if(ec, "getpeername");
    return a;
}
#endif

// ---- transfers ---------------------------------------------------------------------------

SOCKETS_DECL std::size_t Socket::send_all_buffers(const ConstBuffer* buffers, std::size_t count,
                                                  std::error_code& ec) noexcept {
    return send_all_buffers_until(buffers, count, detail::Deadline(), ec);
}

SOCKETS_DECL std::size_t Socket::send_all_buffers(const ConstBuffer* buffers, std::size_t count, Timeout timeout,
                                                  std::error_code& ec) noexcept {
    return send_all_buffers_until(buffers, count, detail::Deadline(timeout), ec);
}

SOCKETS_DECL std::size_t Socket::send_all(std::initializer_list<ConstBuffer> buffers, std::error_code& ec) noexcept {
    return send_all_buffers(buffers.begin(), buffers.size(), ec);
}

SOCKETS_DECL std::size_t Socket::send_all(std::initializer_list<ConstBuffer> buffers, Timeout timeout,
                                          std::error_code& ec) noexcept {
    return send_all_buffers(buffers.begin(), buffers.size(), timeout, ec);
}

SOCKETS_DECL std::optional<std::size_t> Socket::try_send(const void* data, std::size_t size, std::error_code& ec) noexcept {
    return try_transfer(const_cast<void*>(data), size, true, ec);
}

SOCKETS_DECL std::optional<std::size_t> Socket::try_recv(void* buffer, std::size_t capacity, std::error_code& ec) noexcept {
    return try_transfer(buffer, capacity, false, ec);
}

SOCKETS_DECL std::optional<std::size_t> Socket::try_send(ConstBuffer b, std::error_code& ec) noexcept {
    return try_send(b.data, b.size, ec);
}

SOCKETS_DECL std::optional<std::size_t> Socket::try_recv(MutableBuffer b, std::error_code& ec) noexcept {
    return try_recv(b.data, b.size, ec);
}

SOCKETS_DECL std::string Socket::recv_some_until(std::size_t max, detail::Deadline deadline, std::error_code& ec) {
    std::string out;
    if (max == 0 || !is_open()) {
        refuse_empty(ec);
        return out;
    }
    const std::size_t room = detail::recv_some_room(max);
    out.resize(room);
    out.resize(transfer(&out[0], room, false, deadline, ec));
    return out;
}

SOCKETS_DECL std::string Socket::recv_some(std::size_t max, std::error_code& ec) {
    return recv_some_until(max, detail::Deadline(), ec);
}

SOCKETS_DECL std::string Socket::recv_some(std::size_t max, Timeout timeout, std::error_code& ec) {
    return recv_some_until(max, detail::Deadline(timeout), ec);
}

#if !defined(SOCKETS_NO_EXCEPTIONS)
SOCKETS_DECL std::size_t Socket::send_all_buffers(const ConstBuffer* buffers, std::size_t count) {
    std::error_code ec;
    std::size_t n = send_all_buffers(buffers, count, ec);
    if (ec) throw_transfer(ec, "send_all", n);
    return n;
}

SOCKETS_DECL std::size_t Socket::send_all_buffers(const ConstBuffer* buffers, std::size_t count, Timeout timeout) {
    std::error_code ec;
    std::size_t n = send_all_buffers(buffers, count, timeout, ec);
    if (ec) throw_transfer(ec, "send_all", n);
    return n;
}

SOCKETS_DECL std::size_t Socket::send_all(std::initializer_list<ConstBuffer> buffers) {
    return send_all_buffers(buffers.begin(), buffers.size());
}

SOCKETS_DECL std::size_t Socket::send_all(std::initializer_list<ConstBuffer> buffers, Timeout timeout) {
    return send_all_buffers(buffers.begin(), buffers.size(), timeout);
}

SOCKETS_DECL std::optional<std::size_t> Socket::try_send(const void* data, std::size_t size) {
    std::error_code ec;
    auto n = try_send(data, size, ec);
    if (ec) throw_transfer(ec, "send", n.value_or(0));
    return n;
}

SOCKETS_DECL std::optional<std::size_t> Socket::try_recv(void* buffer, std::size_t capacity) {
    std::error_code ec;
    auto n = try_recv(buffer, capacity, ec);
    if (ec) throw_transfer(ec, "recv", n.value_or(0));
    return n;
}

SOCKETS_DECL std::optional<std::size_t> Socket::try_send(ConstBuffer b) { return try_send(b.data, b.size); }

SOCKETS_DECL std::optional<std::size_t> Socket::try_recv(MutableBuffer b) { return try_recv(b.data, b.size); }

SOCKETS_DECL std::string Socket::recv_some(std::size_t max) {
    std::error_code ec;
    std::string out = recv_some(max, ec);
    if (ec) throw_transfer(ec, "recv", out.size());
    return out;
}

SOCKETS_DECL std::string Socket::recv_some(std::size_t max, Timeout timeout) {
    std::error_code ec;
    std::string out = recv_some(max, timeout, ec);
    if (ec) throw_transfer(ec, "recv", out.size());
    return out;
}

SOCKETS_DECL std::size_t Socket::finish_or_throw(void* buffer, std::size_t size, bool write, long first) {
    std::error_code ec;
    std::size_t done = write ? send_all_until(buffer, size, detail::Deadline(), ec, first)
                             : recv_exact_until(buffer, size, detail::Deadline(), ec, first);
    if (ec) throw_transfer(ec, write ? "send_all" : "recv_exact", done);
    return done;
}

SOCKETS_DECL void Socket::throw_transfer(std::error_code ec, const char* operation, std::size_t bytes) const {
    throw_exception(TransferError(ec, describe_connection(operation), bytes));
}
#endif

// ---- datagrams ---------------------------------------------------------------------------

SOCKETS_DECL std::size_t Socket::send_to(const Address& to, const void* data, std::size_t size,
                                         std::error_code& ec) noexcept {
    return send_to_until(to, data, size, detail::Deadline(), ec);
}

SOCKETS_DECL std::size_t Socket::send_to(const Address& to, const void* data, std::size_t size, Timeout timeout,
                                         std::error_code& ec) noexcept {
    return send_to_until(to, data, size, detail::Deadline(timeout), ec);
}

SOCKETS_DECL std::size_t Socket::send_to(const Address& to, ConstBuffer b, std::error_code& ec) noexcept {
    return send_to(to, b.data, b.size, ec);
}

SOCKETS_DECL std::size_t Socket::send_to(const Address& to, ConstBuffer b, Timeout t, std::error_code& ec) noexcept {
    return send_to(to, b.data, b.size, t, ec);
}

SOCKETS_DECL Datagram Socket::recv_from(void* buffer, std::size_t capacity, std::error_code& ec) noexcept {
    return recv_from_until(buffer, capacity, detail::Deadline(), ec);
}

SOCKETS_DECL Datagram Socket::recv_from(void* buffer, std::size_t capacity, Timeout timeout,
                                        std::error_code& ec) noexcept {
    return recv_from_until(buffer, capacity, detail::Deadline(timeout), ec);
}

SOCKETS_DECL Datagram Socket::recv_from(MutableBuffer b, std::error_code& ec) noexcept {
    return recv_from(b.data, b.size, ec);
}

SOCKETS_DECL Datagram Socket::recv_from(MutableBuffer b, Timeout t, std::error_code& ec) noexcept {
    return recv_from(b.data, b.size, t, ec);
}

#if !defined(SOCKETS_NO_EXCEPTIONS)
SOCKETS_DECL std::size_t Socket::send_to(const Address& to, const void* data, std::size_t size) {
    std::error_code ec;
    std::size_t n = send_to(to, data, size, ec);
    if (ec) detail::throw_error(ec, detail::describe("send_to", to));
    return n;
}

SOCKETS_DECL std::size_t Socket::send_to(const Address& to, const void* data, std::size_t size, Timeout timeout) {
    std::error_code ec;
    std::size_t n = send_to(to, data, size, timeout, ec);
    if (ec) detail::throw_error(ec, detail::describe("send_to", to));
    return n;
}

SOCKETS_DECL std::size_t Socket::send_to(const Address& to, ConstBuffer b) { return send_to(to, b.data, b.size); }

SOCKETS_DECL std::size_t Socket::send_to(const Address& to, ConstBuffer b, Timeout t) {
    return send_to(to, b.data, b.size, t);
}

SOCKETS_DECL Datagram Socket::recv_from(void* buffer, std::size_t capacity) {
    std::error_code ec;
    Datagram d = recv_from(buffer, capacity, ec);
    if (ec) detail::throw_error(ec, describe_connection("recv_from"));
    return d;
}

SOCKETS_DECL Datagram Socket::recv_from(void* buffer, std::size_t capacity, Timeout timeout) {
    std::error_code ec;
    Datagram d = recv_from(buffer, capacity, timeout, ec);
    if (ec) detail::throw_error(ec, describe_connection("recv_from"));
    return d;
}

SOCKETS_DECL Datagram Socket::recv_from(MutableBuffer b) { return recv_from(b.data, b.size); }

SOCKETS_DECL Datagram Socket::recv_from(MutableBuffer b, Timeout t) { return recv_from(b.data, b.size, t); }
#endif

// ---- options -----------------------------------------------------------------------------

SOCKETS_DECL void Socket::set_nonblocking(bool on, std::error_code& ec) noexcept {
    if (check_open(ec) && detail::set_nonblocking(handle_, on) != 0) ec = detail::last_error();
}

SOCKETS_DECL void Socket::set_reuse_address(bool on, std::error_code& ec) noexcept {
    set_option(SOL_SOCKET, SO_REUSEADDR, on, ec);
}
SOCKETS_DECL bool Socket::reuse_address() const {
    return get_option_or_throw(SOL_SOCKET, SO_REUSEADDR, "SO_REUSEADDR") != 0;
}

SOCKETS_DECL void Socket::set_no_delay(bool on, std::error_code& ec) noexcept { set_option(IPPROTO_TCP, TCP_NODELAY, on, ec); }
SOCKETS_DECL bool Socket::no_delay() const { return get_option_or_throw(IPPROTO_TCP, TCP_NODELAY, "TCP_NODELAY") != 0; }

SOCKETS_DECL void Socket::set_keep_alive(bool on, std::error_code& ec) noexcept {
    set_option(SOL_SOCKET, SO_KEEPALIVE, on, ec);
}
SOCKETS_DECL bool Socket::keep_alive() const {
    return get_option_or_throw(SOL_SOCKET, SO_KEEPALIVE, "SO_KEEPALIVE") != 0;
}

SOCKETS_DECL void Socket::set_keep_alive(std::chrono::seconds idle, std::chrono::seconds interval, int count,
                                         std::error_code& ec) noexcept {
    set_option(SOL_SOCKET, SO_KEEPALIVE, 1, ec);
    auto secs = [](std::chrono::seconds d) {
        return static_cast<int>(d.count() < 1 ? 1 : d.count() > INT_MAX ? INT_MAX : d.count());
    };
#if defined(TCP_KEEPIDLE)
    if (!ec) set_option(IPPROTO_TCP, TCP_KEEPIDLE, secs(idle), ec);
#elif defined(TCP_KEEPALIVE)
    if (!ec) set_option(IPPROTO_TCP, TCP_KEEPALIVE, secs(idle), ec);
#endif
#if defined(TCP_KEEPINTVL)
    if (!ec) set_option(IPPROTO_TCP, TCP_KEEPINTVL, secs(interval), ec);
#endif
#if defined(TCP_KEEPCNT)
    if (!ec) set_option(IPPROTO_TCP, TCP_KEEPCNT, count, ec);
#endif
    (void)secs, (void)idle, (void)interval, (void)count;
}

SOCKETS_DECL void Socket::set_send_buffer_size(int bytes, std::error_code& ec) noexcept {
    set_option(SOL_SOCKET, SO_SNDBUF, bytes, ec);
}
SOCKETS_DECL int Socket::send_buffer_size() const { return get_option_or_throw(SOL_SOCKET, SO_SNDBUF, "SO_SNDBUF"); }

SOCKETS_DECL void Socket::set_receive_buffer_size(int bytes, std::error_code& ec) noexcept {
    set_option(SOL_SOCKET, SO_RCVBUF, bytes, ec);
}
SOCKETS_DECL int Socket::receive_buffer_size() const { return get_option_or_throw(SOL_SOCKET, SO_RCVBUF, "SO_RCVBUF"); }

SOCKETS_DECL void Socket::set_v6_only(bool on, std::error_code& ec) noexcept {
    set_option(IPPROTO_IPV6, IPV6_V6ONLY, on, ec);
}
SOCKETS_DECL bool Socket::v6_only() const {
    return get_option_or_throw(IPPROTO_IPV6, IPV6_V6ONLY, "IPV6_V6ONLY") != 0;
}

SOCKETS_DECL void Socket::set_broadcast(bool on, std::error_code& ec) noexcept {
    set_option(SOL_SOCKET, SO_BROADCAST, on, ec);
}
SOCKETS_DECL bool Socket::broadcast() const {
    return get_option_or_throw(SOL_SOCKET, SO_BROADCAST, "SO_BROADCAST") != 0;
}

SOCKETS_DECL void Socket::set_linger(std::optional<std::chrono::seconds> linger, std::error_code& ec) noexcept {
    ::linger value{};
    value.l_onoff = linger.has_value() ? 1 : 0;
    value.l_linger = static_cast<decltype(value.l_linger)>(linger ? linger->count() : 0);
    set_raw_option(SOL_SOCKET, SO_LINGER, &value, sizeof value, ec);
}

SOCKETS_DECL void Socket::set_receive_timeout(Timeout timeout, std::error_code& ec) noexcept {
    set_timeout_option(SO_RCVTIMEO, timeout, ec);
}

SOCKETS_DECL void Socket::set_send_timeout(Timeout timeout, std::error_code& ec) noexcept {
    set_timeout_option(SO_SNDTIMEO, timeout, ec);
}

SOCKETS_DECL void Socket::prepare_listener(const ListenOptions& options, bool ipv6, std::error_code& ec) noexcept {
    if (!check_open(ec)) return;
    if (detail::claim_port(handle_) != 0 ||
        (ipv6 && detail::set_int_option(handle_, IPPROTO_IPV6, IPV6_V6ONLY, options.dual_stack ? 0 : 1) != 0) ||
        (options.reuse_port && detail::share_port(handle_) != 0))
        ec = detail::last_error();
}

SOCKETS_DECL bool Socket::is_stream(std::error_code& ec) const noexcept {
    int type = 0;
    return get_option(SOL_SOCKET, SO_TYPE, type, ec) && type == SOCK_STREAM;
}

#if !defined(SOCKETS_NO_EXCEPTIONS)
SOCKETS_DECL void Socket::set_nonblocking(bool on) {
    std::error_code ec;
    set_nonblocking(on, ec);
    detail::throw_if(ec, "set_nonblocking");
}

SOCKETS_DECL void Socket::set_reuse_address(bool on) { set_option_or_throw(SOL_SOCKET, SO_REUSEADDR, on, "SO_REUSEADDR"); }
SOCKETS_DECL void Socket::set_no_delay(bool on) { set_option_or_throw(IPPROTO_TCP, TCP_NODELAY, on, "TCP_NODELAY"); }
SOCKETS_DECL void Socket::set_keep_alive(bool on) { set_option_or_throw(SOL_SOCKET, SO_KEEPALIVE, on, "SO_KEEPALIVE"); }

SOCKETS_DECL void Socket::set_keep_alive(std::chrono::seconds idle, std::chrono::seconds interval, int count) {
    std::error_code ec;
    set_keep_alive(idle, interval, count, ec);
    detail::throw_if(ec, "set keep-alive");
}

SOCKETS_DECL void Socket::set_send_buffer_size(int bytes) { set_option_or_throw(SOL_SOCKET, SO_SNDBUF, bytes, "SO_SNDBUF"); }
SOCKETS_DECL void Socket::set_receive_buffer_size(int bytes) {
    set_option_or_throw(SOL_SOCKET, SO_RCVBUF, bytes, "SO_RCVBUF");
}
SOCKETS_DECL void Socket::set_v6_only(bool on) { set_option_or_throw(IPPROTO_IPV6, IPV6_V6ONLY, on, "IPV6_V6ONLY"); }
SOCKETS_DECL void Socket::set_broadcast(bool on) { set_option_or_throw(SOL_SOCKET, SO_BROADCAST, on, "SO_BROADCAST"); }

SOCKETS_DECL void Socket::set_linger(std::optional<std::chrono::seconds> linger) {
    std::error_code ec;
    set_linger(linger, ec);
    detail::throw_if(ec, "SO_LINGER");
}

SOCKETS_DECL void Socket::set_receive_timeout(Timeout timeout) {
    std::error_code ec;
    set_receive_timeout(timeout, ec);
    detail::throw_if(ec, "SO_RCVTIMEO");
}

SOCKETS_DECL void Socket::set_send_timeout(Timeout timeout) {
    std::error_code ec;
    set_send_timeout(timeout, ec);
    detail::throw_if(ec, "SO_SNDTIMEO");
}
#endif

// ---- multicast ---------------------------------------------------------------------------

SOCKETS_DECL void Socket::join_multicast(const Address& group, unsigned interface_index, std::error_code& ec) noexcept {
    multicast_membership(group, true, interface_index, ec);
}

SOCKETS_DECL void Socket::join_multicast(const Address& group, std::error_code& ec, unsigned interface_index) noexcept {
    multicast_membership(group, true, interface_index, ec);
}

SOCKETS_DECL void Socket::leave_multicast(const Address& group, unsigned interface_index, std::error_code& ec) noexcept {
    multicast_membership(group, false, interface_index, ec);
}

SOCKETS_DECL void Socket::leave_multicast(const Address& group, std::error_code& ec, unsigned interface_index) noexcept {
    multicast_membership(group, false, interface_index, ec);
}

SOCKETS_DECL void Socket::set_multicast_loop(bool on, Family family, std::error_code& ec) noexcept {
    if (family == Family::ipv6)
        set_option(IPPROTO_IPV6, IPV6_MULTICAST_LOOP, on, ec);
    else
        set_option(IPPROTO_IP, IP_MULTICAST_LOOP, on, ec);
}

SOCKETS_DECL void Socket::set_multicast_ttl(int hops, Family family, std::error_code& ec) noexcept {
    if (hops < (family == Family::ipv6 ? -1 : 0) || hops > 255) {
        ec = std::make_error_code(std::errc::invalid_argument);
        return;
    }
    if (family == Family::ipv6) {
        set_option(IPPROTO_IPV6, IPV6_MULTICAST_HOPS, hops, ec);
        return;
    }
#if defined(__APPLE__)
    unsigned char ttl = static_cast<unsigned char>(hops);  // the BSDs take a single byte
    set_raw_option(IPPROTO_IP, IP_MULTICAST_TTL, &ttl, sizeof ttl, ec);
#else
    set_option(IPPROTO_IP, IP_MULTICAST_TTL, hops, ec);
#endif
}

SOCKETS_DECL void Socket::set_multicast_interface(unsigned interface_index, Family family, std::error_code& ec) noexcept {
    if (family == Family::ipv6) {
#if defined(_WIN32)
        DWORD index = interface_index;
#else
        unsigned index = interface_index;
#endif
        set_raw_option(IPPROTO_IPV6, IPV6_MULTICAST_IF, &index, sizeof index, ec);
        return;
    }
#if defined(_WIN32)
    // An address whose first byte is 0 is read as an interface index (in network order).
    if (interface_index > 0xFFFFFF) {
        ec = detail::os_error(WSAEINVAL);
        return;
    }
    DWORD index = htonl(interface_index);
    set_raw_option(IPPROTO_IP, IP_MULTICAST_IF, &index, sizeof index, ec);
#elif defined(__APPLE__)
    unsigned index = interface_index;
    set_raw_option(IPPROTO_IP, IP_MULTICAST_IFINDEX, &index, sizeof index, ec);
#else
    ip_mreqn request{};
    request.imr_ifindex = static_cast<int>(interface_index);
    set_raw_option(IPPROTO_IP, IP_MULTICAST_IF, &request, sizeof request, ec);
#endif
}

#if !defined(SOCKETS_NO_EXCEPTIONS)
SOCKETS_DECL void Socket::join_multicast(const Address& group, unsigned interface_index) {
    std::error_code ec;
    multicast_membership(group, true, interface_index, ec);
    if (ec) detail::throw_error(ec, multicast_what("join multicast", group, interface_index));
}

SOCKETS_DECL void Socket::leave_multicast(const Address& group, unsigned interface_index) {
    std::error_code ec;
    multicast_membership(group, false, interface_index, ec);
    if (ec) detail::throw_error(ec, multicast_what("leave multicast", group, interface_index));
}

SOCKETS_DECL void Socket::set_multicast_loop(bool on, Family family) {
    std::error_code ec;
    set_multicast_loop(on, family, ec);
    detail::throw_if(ec, family == Family::ipv6 ? "IPV6_MULTICAST_LOOP" : "IP_MULTICAST_LOOP");
}

SOCKETS_DECL void Socket::set_multicast_ttl(int hops, Family family) {
    std::error_code ec;
    set_multicast_ttl(hops, family, ec);
    detail::throw_if(ec, family == Family::ipv6 ? "IPV6_MULTICAST_HOPS" : "IP_MULTICAST_TTL");
}

SOCKETS_DECL void Socket::set_multicast_interface(unsigned interface_index, Family family) {
    std::error_code ec;
    set_multicast_interface(interface_index, family, ec);
    if (ec)
        detail::throw_error(ec, (family == Family::ipv6 ? "IPV6_MULTICAST_IF interface " : "IP_MULTICAST_IF interface ") +
                                    std::to_string(interface_index));
}
#endif

// ---- private helpers: the slow paths ------------------------------------------------------

SOCKETS_DECL Socket::Kind Socket::kind_of(native_handle_type h) noexcept {
    int type = 0;
    detail::socklen len = sizeof type;
    if (h == detail::invalid_handle ||
        ::getsockopt(h, SOL_SOCKET, SO_TYPE, reinterpret_cast<char*>(&type), &len) != 0)
        return Kind::stream;
    return type == SOCK_STREAM ? Kind::stream : Kind::messages;
}

SOCKETS_DECL bool Socket::accept_retryable(int code) noexcept {
#if defined(_WIN32)
    // Microsoft documents WSAECONNRESET for a queued connection its client reset before
    // accept; wine reports WSAENOTCONN (a listener is never "not connected" otherwise). Either
    // way the next queued client must not wait behind it.
    return code == WSAECONNRESET || code == WSAENOTCONN;
#else
    switch (code) {
        case ECONNABORTED: case EPROTO: case ENETDOWN: case ENOPROTOOPT: case EHOSTUNREACH:
        case EOPNOTSUPP: case ENETUNREACH:
#if defined(EHOSTDOWN)
        case EHOSTDOWN:
#endif
#if defined(ENONET)
        case ENONET:
#endif
            return true;
        default:
            return false;
    }
#endif
}

SOCKETS_DECL Socket Socket::accept_once(Address* remote, int& code) noexcept {
    Address peer;
    detail::socklen len = Address::capacity();
    native_handle_type h = detail::accept_socket(handle_, peer.data(), &len);
    if (h == detail::invalid_handle) {
        code = detail::last_error_code();
        return Socket();
    }
    peer.resize(len);
    if (remote) *remote = peer;
    return Socket(h, kind_);
}

SOCKETS_DECL Address Socket::local_address_or_empty() const noexcept {
    std::error_code ignored;
    return local_address(ignored);
}

SOCKETS_DECL std::string Socket::describe_connection(const char* operation) const {
    std::string what = operation;
    if (!is_open()) return what;
    std::error_code failed;
    Address peer = peer_address(failed);
    if (failed) {
        detail::socklen len = Address::capacity();
        if (detail::former_peer_name(handle_, peer.data(), &len) == 0) {
            peer.resize(len);
            failed.clear();
        }
    }
    if (!failed && peer.family() != Family::unspecified) return what + " with " + peer.to_string();
    Address local = local_address(failed);
    if (!failed && local.family() != Family::unspecified) what += " on " + local.to_string();
    return what;
}

SOCKETS_DECL Address Socket::name_of(bool peer, std::error_code& ec) const noexcept {
    Address a;
    if (!check_open(ec)) return a;
    detail::socklen len = Address::capacity();
    int rc = peer ? ::getpeername(handle_, a.data(), &len) : ::getsockname(handle_, a.data(), &len);
    if (rc != 0) {
        ec = detail::last_error();
        return Address();
    }
    a.resize(len);
    return a;
}

SOCKETS_DECL long Socket::io_call(void* buffer, std::size_t size, bool write, int flags, bool& truncated) noexcept {
    auto chunk = static_cast<detail::io_size>(size < detail::max_io ? size : detail::max_io);
    if (write) return static_cast<long>(::send(handle_, static_cast<const char*>(buffer), chunk, flags));
    if (kind_ == Kind::stream) return static_cast<long>(::recv(handle_, static_cast<char*>(buffer), chunk, flags));
    return detail::recv_datagram(handle_, buffer, size, flags, nullptr, nullptr, truncated);
}

SOCKETS_DECL std::size_t Socket::transfer(void* buffer, std::size_t size, bool write, detail::Deadline deadline,
                                          std::error_code& ec, long first) noexcept {
    int first_code = first < 0 && first != not_tried ? detail::last_error_code() : 0;
    if (!check_open(ec)) return 0;
    if (!write && size == 0) return 0;
    if (!detail::prepare_nonwaiting(handle_, deadline, ec)) return 0;
    detail::Retry retry(handle_, write, deadline);
    for (;; first = not_tried) {
        bool truncated = false;
        long n = first == not_tried
                     ? io_call(buffer, size, write, retry.flags() | (write ? detail::send_flags : 0), truncated)
                     : first;
        if (n >= 0 || truncated) return transferred(n, size, truncated, ec);
        int code = first == not_tried ? detail::last_error_code() : first_code;
        if (retry.again(code, ec)) continue;
        if (!ec) ec = detail::os_error(code);
        return 0;
    }
}

SOCKETS_DECL std::optional<std::size_t> Socket::try_transfer(void* buffer, std::size_t size, bool write, std::error_code& ec) noexcept {
    if (!check_open(ec)) return std::nullopt;
    if (!write && size == 0) return 0;
    if (!detail::prepare_nonwaiting(handle_, detail::Deadline(Timeout::zero()), ec)) return std::nullopt;
    int flags = detail::dontwait_flag | (write ? detail::send_flags : 0);
    for (;;) {
        bool truncated = false;
        long n = io_call(buffer, size, write, flags, truncated);
        if (n >= 0 || truncated) return transferred(n, size, truncated, ec);
        int code = detail::last_error_code();
        if (detail::is_interrupted(code)) continue;
        if (!detail::is_would_block(code)) ec = detail::os_error(code);
        return std::nullopt;
    }
}

SOCKETS_DECL std::size_t Socket::transferred(long n, std::size_t capacity, bool truncated, std::error_code& ec) noexcept {
    if (!truncated) return static_cast<std::size_t>(n);
    ec = errc::datagram_truncated;
    return capacity;
}

SOCKETS_DECL std::size_t Socket::send_all_until(const void* data, std::size_t size, detail::Deadline deadline,
                                                std::error_code& ec, long first) noexcept {
    const char* p = static_cast<const char*>(data);
    std::size_t done = transfer(const_cast<char*>(p), size, true, deadline, ec, first);
    while (!ec && done < size) {
        if (kind_ == Kind::messages) {
            ec = errc::not_stream_socket;
            break;
        }
        done += transfer(const_cast<char*>(p + done), size - done, true, deadline, ec);
    }
    return done;
}

SOCKETS_DECL std::size_t Socket::recv_exact_until(void* buffer, std::size_t size, detail::Deadline deadline,
                                                  std::error_code& ec, long first) noexcept {
    char* p = static_cast<char*>(buffer);
    std::size_t done = 0;
    if (!check_open(ec)) return 0;
    while (done < size) {
        std::size_t n = transfer(p + done, size - done, false, deadline, ec, std::exchange(first, not_tried));
        done += n;
        if (ec) break;
        if (kind_ == Kind::messages && done < size) {
            ec = errc::not_stream_socket;  // a shorter datagram: never glue it to the next
            break;
        }
        if (n == 0) {
            ec = errc::end_of_stream;
            break;
        }
    }
    return done;
}

SOCKETS_DECL bool Socket::backlog_full(int code, const Address& address) noexcept {
    return address.family() == Family::unix_domain && detail::is_would_block(code);
}

SOCKETS_DECL void Socket::connect_until(const Address& address, detail::Deadline deadline, std::error_code& ec) noexcept {
    if (!check_open(ec)) return;
    detail::Retry retry(handle_, true, deadline);
    if (!retry.adopt_socket_timeout(ec)) return;
    deadline = retry.deadline();
    if (deadline.timed() && detail::set_nonblocking(handle_, true) != 0) {
        ec = detail::last_error();
        return;
    }
    for (int backoff_ms = 1;; backoff_ms = backoff_ms < 64 ? backoff_ms * 2 : 64) {
        if (::connect(handle_, address.data(), address.size()) == 0) return;
        int code = detail::last_error_code();
        if (detail::is_interrupted(code)) {
            // TCP: the kernel goes on connecting, so wait for the outcome. Unix domain: the
            // connect was waiting for room in the listener's backlog and has not happened
            // (the socket is unconnected, and writable), so make it again, unless it did
            // complete before the signal.
            if (address.family() != Family::unix_domain) break;
            if (connected_after_interrupt()) return;
            continue;
        }
        bool in_progress = detail::is_in_progress(code);
        if (!in_progress && !backlog_full(code, address)) {
            ec = detail::os_error(code);
            return;
        }
        // A plain connect on a blocking socket returns these only when SO_SNDTIMEO expired.
        if (!deadline.timed() && detail::would_block_means_timeout(handle_)) {
            ec = detail::timed_out();
            return;
        }
        if (in_progress) break;
        if (deadline.expired()) {
            ec = detail::timed_out();
            return;
        }
        int left = deadline.remaining_ms();
        detail::sleep_ms(left >= 0 && left < backoff_ms ? left : backoff_ms);
    }
    if (detail::wait_ready(handle_, true, deadline, ec)) finish_connect(ec);
}

SOCKETS_DECL Socket Socket::accept_until(Address* remote, detail::Deadline deadline, std::error_code& ec) noexcept {
    if (!check_open(ec)) return Socket();
    detail::Retry retry(handle_, false, deadline);
    if (!retry.adopt_socket_timeout(ec)) return Socket();
    if (retry.deadline().timed() && detail::set_nonblocking(handle_, true) != 0) {
        ec = detail::last_error();
        return Socket();
    }
    for (;;) {
        int code = 0;
        Socket s = accept_once(remote, code);
        if (s.is_open()) return s;
        if (accept_retryable(code)) continue;
        if (retry.again(code, ec)) continue;
        if (!ec) ec = detail::os_error(code);
        return Socket();
    }
}

SOCKETS_DECL std::size_t Socket::send_to_until(const Address& to, const void* data, std::size_t size, detail::Deadline deadline,
                                               std::error_code& ec) noexcept {
    if (!check_open(ec)) return 0;
    if (size > detail::max_io) {  // a Winsock length is an int: never let it wrap
        ec = std::make_error_code(std::errc::message_size);
        return 0;
    }
    if (!detail::prepare_nonwaiting(handle_, deadline, ec)) return 0;
    detail::Retry retry(handle_, true, deadline);
    for (;;) {
        auto n = ::sendto(handle_, static_cast<const char*>(data), static_cast<detail::io_size>(size),
                          retry.flags() | detail::send_flags, to.data(), to.size());
        if (n >= 0) return static_cast<std::size_t>(n);
        int code = detail::last_error_code();
        if (retry.again(code, ec)) continue;
        if (!ec) ec = detail::os_error(code);
        return 0;
    }
}

SOCKETS_DECL void Socket::set_raw_option(int level, int name, const void* value, std::size_t size, std::error_code& ec) noexcept {
    if (!check_open(ec)) return;
    if (::setsockopt(handle_, level, name, static_cast<const char*>(value), static_cast<detail::socklen>(size)) != 0)
        ec = detail::last_error();
}

SOCKETS_DECL int Socket::get_option_or_throw(int level, int name, const char* what) const {
    std::error_code ec;
    int value = 0;
    get_option(level, name, value, ec);
    detail::throw_if(ec, what);
    return value;
}

SOCKETS_DECL void Socket::set_timeout_option(int name, Timeout timeout, std::error_code& ec) noexcept {
    using namespace std::chrono;
#if defined(_WIN32)
    auto ms = timeout.is_max() ? 0 : ceil<milliseconds>(timeout.length()).count();
    DWORD value = static_cast<DWORD>(timeout.is_max() ? 0 : ms < 1 ? 1 : ms > 0x7fffffff ? 0x7fffffff : ms);
    set_raw_option(SOL_SOCKET, name, &value, sizeof value, ec);
#else
    ::timeval tv{};
    if (!timeout.is_max()) {
        auto us = ceil<microseconds>(timeout.length()).count();
        if (us < 1) us = 1;
        tv.tv_sec = static_cast<decltype(tv.tv_sec)>(us / 1000000);
        tv.tv_usec = static_cast<decltype(tv.tv_usec)>(us % 1000000);
    }
    set_raw_option(SOL_SOCKET, name, &tv, sizeof tv, ec);
#endif
}

SOCKETS_DECL std::string Socket::multicast_what(const char* operation, const Address& group, unsigned interface_index) {
    std::string what = detail::describe(operation, group);
    if (interface_index != 0) what += " on interface " + std::to_string(interface_index);
    return what;
}

SOCKETS_DECL void Socket::multicast_membership(const Address& group, bool join, unsigned interface_index, std::error_code& ec) noexcept {
    if (group.family() == Family::ipv4) {
        // ip_mreq names the interface by address, so on POSIX it cannot take the index:
        // Linux's ip_mreqn and the BSDs' group_req (MCAST_JOIN_GROUP) can. Windows reads an
        // ip_mreq address 0.x.y.z as the index x.y.z.
        const in_addr multiaddr = reinterpret_cast<const sockaddr_in*>(group.data())->sin_addr;
#if defined(__linux__)
        ip_mreqn request{};
        request.imr_multiaddr = multiaddr;
        request.imr_ifindex = static_cast<int>(interface_index);
        set_raw_option(IPPROTO_IP, join ? IP_ADD_MEMBERSHIP : IP_DROP_MEMBERSHIP, &request, sizeof request, ec);
#else
#if !defined(_WIN32)
        if (interface_index != 0) {
            group_req request{};
            request.gr_interface = interface_index;
            std::memcpy(&request.gr_group, group.data(), static_cast<std::size_t>(group.size()));
            set_raw_option(IPPROTO_IP, join ? MCAST_JOIN_GROUP : MCAST_LEAVE_GROUP, &request, sizeof request, ec);
            return;
        }
#else
        if (interface_index > 0xFFFFFF) {
            ec = detail::os_error(WSAEINVAL);
            return;
        }
#endif
        ip_mreq request{};
        request.imr_multiaddr = multiaddr;
        request.imr_interface.s_addr = htonl(interface_index);
        set_raw_option(IPPROTO_IP, join ? IP_ADD_MEMBERSHIP : IP_DROP_MEMBERSHIP, &request, sizeof request, ec);
#endif
    } else if (group.family() == Family::ipv6) {
        ipv6_mreq request{};
        request.ipv6mr_multiaddr = reinterpret_cast<const sockaddr_in6*>(group.data())->sin6_addr;
        request.ipv6mr_interface = interface_index;
        set_raw_option(IPPROTO_IPV6, join ? IPV6_JOIN_GROUP : IPV6_LEAVE_GROUP, &request, sizeof request, ec);
    } else {
        ec = errc::invalid_address;
    }
}

#if !defined(SOCKETS_NO_EXCEPTIONS)
SOCKETS_DECL void Socket::set_option_or_throw(int level, int name, int value, const char* what) {
    std::error_code ec;
    set_option(level, name, value, ec);
    detail::throw_if(ec, what);
}
#endif

SOCKETS_DECL std::size_t Socket::send_all_buffers_until(const ConstBuffer* buffers, std::size_t count,
                                                        detail::Deadline deadline, std::error_code& ec) noexcept {
    if (!check_open(ec)) return 0;
    if (!detail::prepare_nonwaiting(handle_, deadline, ec)) return 0;
    detail::Retry retry(handle_, true, deadline);
    std::size_t total = 0, index = 0, offset = 0;  // offset: bytes of buffers[index] already sent
    while (index < count && buffers[index].size == offset) ++index, offset = 0;
    while (index < count) {
        long sent = detail::gather_send(handle_, buffers + index, count - index, offset, retry.flags());
        if (sent < 0) {
            int code = detail::last_error_code();
            if (retry.again(code, ec)) continue;
            if (!ec) ec = detail::os_error(code);
            return total;
        }
        retry.progressed();
        total += static_cast<std::size_t>(sent);
        // Walk past what was sent; a partial write leaves us in the middle of a piece.
        std::size_t left = static_cast<std::size_t>(sent);
        while (index < count && left >= buffers[index].size - offset) {
            left -= buffers[index].size - offset;
            ++index;
            offset = 0;
        }
        offset += left;
        while (index < count && buffers[index].size == offset) ++index, offset = 0;
        if (index < count && kind_ == Kind::messages) {  // one datagram went out, short: never split
            ec = errc::not_stream_socket;
            return total;
        }
    }
    return total;
}

SOCKETS_DECL Datagram Socket::recv_from_until(void* buffer, std::size_t capacity, detail::Deadline deadline,
                                              std::error_code& ec) noexcept {
    Datagram d;
    if (!check_open(ec)) return d;
    if (!detail::prepare_nonwaiting(handle_, deadline, ec)) return d;
    detail::Retry retry(handle_, false, deadline);
    for (;;) {
        detail::socklen len = Address::capacity();
        bool truncated = false;
        long n = detail::recv_datagram(handle_, buffer, capacity, retry.flags(), d.sender.data(), &len, truncated);
        if (n >= 0) {
            d.sender.resize(len);
            d.size = static_cast<std::size_t>(n);
            d.truncated = truncated;
            return d;
        }
        int code = detail::last_error_code();
        if (retry.again(code, ec)) continue;
        if (!ec) ec = detail::os_error(code);
        return d;
    }
}

// ---- free functions ----------------------------------------------------------------------

SOCKETS_DECL Socket listen_on(const Address& address, const ListenOptions& options, std::error_code& ec) {
    Socket s = Socket::open(address.family(), Type::stream, ec);
    if (!ec && address.family() != Family::unix_domain)
        s.prepare_listener(options, address.family() == Family::ipv6, ec);
    if (!ec) s.bind(address, ec);
    if (!ec) s.listen(options.backlog, ec);
    if (ec) s = Socket();
    return s;
}
SOCKETS_DECL Socket listen_on(const Address& address, int backlog, std::error_code& ec) {
    ListenOptions options;
    options.backlog = backlog;
    return listen_on(address, options, ec);
}
SOCKETS_DECL Socket listen_on(const Address& address, std::error_code& ec) { return listen_on(address, SOMAXCONN, ec); }

#if !defined(SOCKETS_NO_EXCEPTIONS)
SOCKETS_DECL Socket listen_on(const Address& address, const ListenOptions& options) {
    std::error_code ec;
    Socket s = listen_on(address, options, ec);
    if (ec) detail::throw_error(ec, detail::describe("listen on", address));
    return s;
}

SOCKETS_DECL Socket listen_on(const Address& address, int backlog) {
    ListenOptions options;
    options.backlog = backlog;
    return listen_on(address, options);
}
#endif

SOCKETS_DECL Socket listen_on(std::string_view host_port, const ListenOptions& options, std::error_code& ec) {
    // Numeric text needs no resolver (and no network); a name takes the resolver's first answer.
    Address address = Address::parse(host_port, ec);
    if (ec) {
        std::vector<Address> found = resolve_host_port(host_port, Family::unspecified, Type::stream, ec);
        if (ec) return Socket();
        address = found.front();
    }
    return listen_on(address, options, ec);
}
SOCKETS_DECL Socket listen_on(std::string_view host_port, int backlog, std::error_code& ec) {
    ListenOptions options;
    options.backlog = backlog;
    return listen_on(host_port, options, ec);
}
SOCKETS_DECL Socket listen_on(std::string_view host_port, std::error_code& ec) {
    return listen_on(host_port, SOMAXCONN, ec);
}

#if !defined(SOCKETS_NO_EXCEPTIONS)
SOCKETS_DECL Socket listen_on(std::string_view host_port, const ListenOptions& options) {
    std::error_code ec;
    Socket s = listen_on(host_port, options, ec);
    if (ec) detail::throw_error(ec, "listen on \"" + std::string(host_port) + "\"");
    return s;
}
SOCKETS_DECL Socket listen_on(std::string_view host_port, int backlog) {
    ListenOptions options;
    options.backlog = backlog;
    return listen_on(host_port, options);
}
#endif

#if !defined(_WIN32)
SOCKETS_DECL std::pair<Socket, Socket> socket_pair(Type type, std::error_code& ec) noexcept {
    ec.clear();
    int fds[2] = {-1, -1};
    int native = detail::to_native(type);
#if defined(SOCK_CLOEXEC)
    native |= SOCK_CLOEXEC;
#endif
    if (::socketpair(AF_UNIX, native, 0, fds) != 0) {
        ec = detail::last_error();
        return {};
    }
#if !defined(SOCK_CLOEXEC)
    detail::set_cloexec_and_nosigpipe(fds[0]);
    detail::set_cloexec_and_nosigpipe(fds[1]);
#endif
    return {Socket(fds[0]), Socket(fds[1])};
}
#if !defined(SOCKETS_NO_EXCEPTIONS)
SOCKETS_DECL std::pair<Socket, Socket> socket_pair(Type type) {
    std::error_code ec;
    auto pair = socket_pair(type, ec);
    detail::throw_if(ec, "socketpair");
    return pair;
}
#endif
#endif

// ---- Interrupter and the calls that take one ---------------------------------------------

namespace detail {

SOCKETS_DECL Waker::Waker() {
#if defined(__linux__)
    read_ = Socket(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
    if (!read_.is_open()) detail::throw_error(detail::last_error(), "wake-up eventfd");
#elif !defined(_WIN32)
    int fds[2];
    if (::pipe(fds) != 0) detail::throw_error(detail::last_error(), "wake-up pipe");
    read_ = Socket(fds[0]);
    write_ = Socket(fds[1]);
    for (int fd : fds) {
        ::fcntl(fd, F_SETFD, FD_CLOEXEC);
        ::fcntl(fd, F_SETFL, ::fcntl(fd, F_GETFL) | O_NONBLOCK);
    }
#else
    // The error_code forms: the throwing ones are absent without exceptions.
    std::error_code ec;
    Socket listener = listen_on(Address::loopback(Family::ipv4), 1, ec);
    // Socket's own connect: socket.hpp sits below connect.hpp (connect_to) in the layers.
    Address at = listener.local_address(ec);
    if (!ec) write_ = Socket::open(Family::ipv4, Type::stream, ec);
    if (!ec) write_.connect(at, ec);
    if (!ec) read_ = listener.accept(ec);
    if (!ec) write_.set_no_delay(true, ec);
    if (!ec) write_.set_nonblocking(true, ec);
    if (!ec) read_.set_nonblocking(true, ec);
    if (ec) detail::throw_error(ec, "wake-up pair");
#endif
}

SOCKETS_DECL void Waker::wake() noexcept {
#if defined(__linux__)
    std::uint64_t one = 1;
    [[maybe_unused]] auto n = ::write(read_.native_handle(), &one, sizeof one);
#elif !defined(_WIN32)
    char one = 1;
    [[maybe_unused]] auto n = ::write(write_.native_handle(), &one, 1);
#else
    char one = 1;
    ::send(write_.native_handle(), &one, 1, 0);
#endif
}

SOCKETS_DECL void Waker::drain() noexcept {
#if defined(__linux__)
    std::uint64_t count;
    [[maybe_unused]] auto n = ::read(read_.native_handle(), &count, sizeof count);
#elif !defined(_WIN32)
    char buffer[64];
    while (::read(read_.native_handle(), buffer, sizeof buffer) > 0) {
    }
#else
    char buffer[64];
    while (::recv(read_.native_handle(), buffer, sizeof buffer, 0) > 0) {
    }
#endif
}

}  // namespace detail

SOCKETS_DECL Interrupter::Interrupter() = default;

SOCKETS_DECL Interrupter::~Interrupter() = default;

SOCKETS_DECL void Interrupter::interrupt() noexcept {
    // Only the first interrupt() wakes: the handle stays readable until reset() drains it.
    if (!detail::flag_exchange(interrupted_, true)) waker_.wake();
}

SOCKETS_DECL void Interrupter::reset() noexcept {
    waker_.drain();
    (void)detail::flag_exchange(interrupted_, false);
}

namespace detail {

SOCKETS_DECL bool wait_or_cancel(native_handle_type h, const Interrupter& stop, const Deadline& deadline,
                                 std::error_code& ec) noexcept {
#if defined(_WIN32)
    const short readable = POLLRDNORM;
#else
    const short readable = POLLIN;
#endif
    for (;;) {
        if (stop.interrupted()) {
            ec = errc::cancelled;
            return false;
        }
        pollfd_type fds[2] = {};
        fds[0].fd = h;
        fds[0].events = readable;
        fds[1].fd = stop.native_handle();
        fds[1].events = readable;
        int rc = poll_handles(fds, 2, deadline.remaining_ms());
        if (rc > 0) {
            if (fds[0].revents == 0 && stop.interrupted()) continue;  // reported at the top
            return true;
        }
        if (rc == 0) {
            if (deadline.expired()) {
                ec = timed_out();
                return false;
            }
            continue;  // woke early (timer granularity)
        }
        int code = last_error_code();
        if (is_interrupted(code)) continue;
        ec = os_error(code);
        return false;
    }
}

}  // namespace detail

SOCKETS_DECL detail::Deadline Socket::plain_deadline() const noexcept {
    Timeout t = detail::socket_timeout(handle_, false);
    return t.is_max() ? detail::Deadline() : detail::Deadline(t);
}

SOCKETS_DECL Socket Socket::accept_cancellable(const Interrupter& stop, detail::Deadline deadline,
                                               std::error_code& ec) noexcept {
    if (!check_open(ec)) return Socket();
    // No deadline: the plain call's, which SO_RCVTIMEO bounds (the time model's rule).
    if (!deadline.finite()) deadline = plain_deadline();
    for (;;) {
        if (stop.interrupted()) {
            ec = errc::cancelled;
            return Socket();
        }
        std::optional<Socket> s = try_accept(nullptr, ec);
        if (ec) return Socket();
        if (s) return std::move(*s);
        if (!detail::wait_or_cancel(handle_, stop, deadline, ec)) return Socket();
    }
}

SOCKETS_DECL std::size_t Socket::recv_cancellable(MutableBuffer b, const Interrupter& stop, detail::Deadline deadline,
                                                  std::error_code& ec) noexcept {
    if (!check_open(ec)) return 0;
    if (stop.interrupted()) {  // the state comes first, as for every call given the interrupter
        ec = errc::cancelled;
        return 0;
    }
    if (b.size == 0) return refuse_empty(ec);
    if (!deadline.finite()) deadline = plain_deadline();
    for (;;) {
        if (stop.interrupted()) {
            ec = errc::cancelled;
            return 0;
        }
        std::optional<std::size_t> n = try_recv(b.data, b.size, ec);
        if (n) return *n;  // also a truncated datagram, with its error
        if (ec) return 0;
        if (!detail::wait_or_cancel(handle_, stop, deadline, ec)) return 0;
    }
}

SOCKETS_DECL Socket Socket::accept(const Interrupter& stop, std::error_code& ec) noexcept {
    return accept_cancellable(stop, detail::Deadline(), ec);
}

SOCKETS_DECL Socket Socket::accept(const Interrupter& stop, Timeout timeout, std::error_code& ec) noexcept {
    return accept_cancellable(stop, detail::Deadline(timeout), ec);
}

SOCKETS_DECL std::size_t Socket::recv(MutableBuffer b, const Interrupter& stop, std::error_code& ec) noexcept {
    return recv_cancellable(b, stop, detail::Deadline(), ec);
}

SOCKETS_DECL std::size_t Socket::recv(MutableBuffer b, const Interrupter& stop, Timeout timeout,
                                      std::error_code& ec) noexcept {
    return recv_cancellable(b, stop, detail::Deadline(timeout), ec);
}

SOCKETS_DECL std::string Socket::recv_some(std::size_t max, const Interrupter& stop, Timeout timeout,
                                           std::error_code& ec) {
    std::string out;
    if (max == 0) {  // recv_cancellable reports it after not_open and cancelled
        (void)recv_cancellable(MutableBuffer(nullptr, 0), stop, detail::Deadline(timeout), ec);
        return out;
    }
    const std::size_t room = detail::recv_some_room(max);
    out.resize(room);
    out.resize(recv_cancellable(MutableBuffer(&out[0], room), stop, detail::Deadline(timeout), ec));
    return out;
}

SOCKETS_DECL std::string Socket::recv_some(std::size_t max, const Interrupter& stop, std::error_code& ec) {
    return recv_some(max, stop, Timeout::max(), ec);
}

#if !defined(SOCKETS_NO_EXCEPTIONS)
SOCKETS_DECL Socket Socket::accept(const Interrupter& stop, Timeout timeout) {
    std::error_code ec;
    Socket s = accept(stop, timeout, ec);
    if (ec) detail::throw_error(ec, detail::describe("accept on", local_address_or_empty()));
    return s;
}

SOCKETS_DECL std::size_t Socket::recv(MutableBuffer b, const Interrupter& stop, Timeout timeout) {
    std::error_code ec;
    std::size_t n = recv(b, stop, timeout, ec);
    if (ec) throw_transfer(ec, "recv", n);
    return n;
}

SOCKETS_DECL std::string Socket::recv_some(std::size_t max, const Interrupter& stop, Timeout timeout) {
    std::error_code ec;
    std::string out = recv_some(max, stop, timeout, ec);
    if (ec) throw_transfer(ec, "recv", out.size());
    return out;
}
#endif

SOCKETS_MODE_NAMESPACE_END
}  // namespace sockets
