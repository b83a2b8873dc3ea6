// Socket: a move-only owner of one native socket handle, and the free functions that make
// the common cases one line (listen_on, connect_to).
//
// The rule for every operation: plain calls (connect, accept, send, recv, send_all, recv_exact)
// complete or fail. On a non-blocking socket they wait for readiness with poll rather than
// report "would block". try_send/try_recv/try_accept never wait: they return std::nullopt when
// the call would block. A Timeout argument bounds the whole operation.
#pragma once

#include <cstddef>
#include <cstdint>
#include <initializer_list>
#include <optional>
#include <string>
#include <string_view>
#include <system_error>
#include <type_traits>
#include <utility>
#include <vector>

#include "address.hpp"
#include "detail/io.hpp"
#include "detail/platform.hpp"
#include "error.hpp"

namespace sockets {

enum class Shutdown { read, write, both };

// One piece of a gather write (header + body without copying them together).
struct ConstBuffer {
    const void* data;
    std::size_t size;
};

// How graceful_close ended. None of these is an error: the socket is closed in every case.
struct CloseResult {
    enum Ending {
        peer_closed,  // the peer closed its side too: the orderly end
        timed_out,    // the timeout passed first (the peer may still have been sending)
        peer_gone,    // the peer had already reset, or the socket was never connected
    };
    Ending ending = peer_closed;
    std::size_t discarded = 0;  // bytes read and thrown away while waiting
};

// What recv_from returns: how many bytes landed in the buffer, who sent them, and whether the
// datagram was larger than the buffer (the rest of it is gone: datagrams are never split).
struct Datagram {
    std::size_t size = 0;
    Address sender;
    bool truncated = false;
};

namespace detail {

// Contiguous byte containers: std::string, std::string_view, std::vector<char|unsigned char|
// std::byte>, std::array<...>. Raw arrays are left out so "text" never sends its NUL.
template <class T, class = void>
struct is_byte_range : std::false_type {};
template <class T>
struct is_byte_range<T, std::void_t<decltype(std::declval<T&>().data()), decltype(std::declval<T&>().size())>>
    : std::bool_constant<std::is_class_v<T> &&
                         sizeof(*std::declval<T&>().data()) == 1 &&
                         std::is_trivially_copyable_v<std::remove_pointer_t<decltype(std::declval<T&>().data())>>> {};

template <class T>
using if_byte_range = std::enable_if_t<is_byte_range<T>::value>;

template <class T>
using if_writable_byte_range =
    std::enable_if_t<is_byte_range<T>::value &&
                     !std::is_const_v<std::remove_pointer_t<decltype(std::declval<T&>().data())>>>;

inline std::string describe(const char* operation, const Address& address) {
    return address.family() == Family::unspecified ? std::string(operation)
                                                   : std::string(operation) + " " + address.to_string();
}

// Largest single transfer handed to the OS: Winsock lengths are int.
inline constexpr std::size_t max_io = static_cast<std::size_t>(INT_MAX);

}  // namespace detail

class Socket {
public:
    using native_handle_type = sockets::native_handle_type;

    // Not open. Every operation on it fails with errc::not_open.
    Socket() noexcept = default;

    // Adopts a handle (e.g. from a C API); the Socket now closes it.
    explicit Socket(native_handle_type handle) noexcept : handle_(handle) {}

    Socket(Socket&& other) noexcept : handle_(other.release()) {}
    Socket& operator=(Socket&& other) noexcept {
        if (this != &other) {
            std::error_code ignored;
            close(ignored);
            handle_ = other.release();
        }
        return *this;
    }
    Socket(const Socket&) = delete;
    Socket& operator=(const Socket&) = delete;

    // Closes without reporting: a destructor cannot throw. Call close() to see the error.
    ~Socket() {
        if (is_open()) detail::close_handle(handle_);
    }

    // ---- creation --------------------------------------------------------------------------

    static Socket open(Family family, Type type, std::error_code& ec) noexcept {
        ec.clear();
        native_handle_type h = detail::open_socket(detail::to_native(family), detail::to_native(type), 0);
        if (h == detail::invalid_handle) ec = detail::last_error();
        return Socket(h);
    }
    static Socket open(Family family, Type type) {
        std::error_code ec;
        Socket s = open(family, type, ec);
        detail::throw_if(ec, "socket");
        return s;
    }
    static Socket tcp(Family family = Family::ipv4) { return open(family, Type::stream); }
    static Socket udp(Family family = Family::ipv4) { return open(family, Type::datagram); }

    // ---- ownership -------------------------------------------------------------------------

    native_handle_type native_handle() const noexcept { return handle_; }
    bool is_open() const noexcept { return handle_ != detail::invalid_handle; }
    explicit operator bool() const noexcept { return is_open(); }

    // Gives up ownership: the caller must close the returned handle.
    native_handle_type release() noexcept { return std::exchange(handle_, detail::invalid_handle); }

    // Closes now and reports the OS's error. The socket is closed afterwards either way.
    void close(std::error_code& ec) noexcept {
        ec.clear();
        if (!is_open()) return;
        if (detail::close_handle(release()) != 0) ec = detail::last_error();
    }
    void close() {
        std::error_code ec;
        close(ec);
        detail::throw_if(ec, "close");
    }

    // ---- connecting ------------------------------------------------------------------------

    void bind(const Address& address, std::error_code& ec) noexcept {
        if (!check_open(ec)) return;
        if (::bind(handle_, address.data(), address.size()) != 0) ec = detail::last_error();
    }
    void bind(const Address& address) {
        std::error_code ec;
        bind(address, ec);
        if (ec) detail::throw_error(ec, detail::describe("bind", address));
    }

    void listen(int backlog, std::error_code& ec) noexcept {
        if (!check_open(ec)) return;
        if (::listen(handle_, backlog) != 0) ec = detail::last_error();
    }
    void listen(std::error_code& ec) noexcept { listen(SOMAXCONN, ec); }
    void listen(int backlog = SOMAXCONN) {
        std::error_code ec;
        listen(backlog, ec);
        if (ec) detail::throw_error(ec, detail::describe("listen", local_address_or_empty()));
    }

    // Blocking connect. A signal landing mid-connect does not surface as EINTR: the kernel goes
    // on connecting, so we wait for the outcome and read it from SO_ERROR.
    void connect(const Address& address, std::error_code& ec) noexcept {
        connect_until(address, detail::Deadline(), ec);
    }
    void connect(const Address& address) {
        std::error_code ec;
        connect(address, ec);
        if (ec) detail::throw_error(ec, detail::describe("connect", address));
    }

    // Connect giving up after timeout (errc::timed_out). The socket's blocking mode is restored.
    // After a timeout the attempt may still be pending in the kernel: close the socket.
    void connect(const Address& address, Timeout timeout, std::error_code& ec) noexcept {
        connect_until(address, detail::Deadline(timeout), ec);
    }
    void connect(const Address& address, Timeout timeout) {
        std::error_code ec;
        connect(address, timeout, ec);
        if (ec) detail::throw_error(ec, detail::describe("connect", address));
    }

    // Non-blocking connect, first half: returns true if already connected, false if the
    // connection is under way (wait until writable, e.g. with a Poller, then finish_connect).
    bool start_connect(const Address& address, std::error_code& ec) noexcept {
        if (!check_open(ec)) return false;
        if (::connect(handle_, address.data(), address.size()) == 0) return true;
        int code = detail::last_error_code();
        if (!detail::is_in_progress(code)) ec = detail::os_error(code);
        return false;
    }
    bool start_connect(const Address& address) {
        std::error_code ec;
        bool done = start_connect(address, ec);
        if (ec) detail::throw_error(ec, detail::describe("connect", address));
        return done;
    }

    // Second half: the outcome of the connection attempt (SO_ERROR), once the socket is writable.
    void finish_connect(std::error_code& ec) noexcept {
        if (!check_open(ec)) return;
        int error = 0;
        if (get_option(SOL_SOCKET, SO_ERROR, error, ec) && error != 0) ec = detail::os_error(error);
    }
    void finish_connect() {
        std::error_code ec;
        finish_connect(ec);
        detail::throw_if(ec, "connect");
    }

    Socket accept(Address& remote, std::error_code& ec) noexcept {
        return accept_until(&remote, detail::Deadline(), ec);
    }
    Socket accept(std::error_code& ec) noexcept { return accept_until(nullptr, detail::Deadline(), ec); }
    Socket accept(Address& remote) {
        std::error_code ec;
        Socket s = accept(remote, ec);
        if (ec) detail::throw_error(ec, detail::describe("accept on", local_address_or_empty()));
        return s;
    }
    Socket accept() {
        Address ignored;
        return accept(ignored);
    }

    // Waits at most timeout for a client. A client that resets between readiness and accept
    // does not hang the call: the listener is non-blocking for its duration.
    Socket accept(Address& remote, Timeout timeout, std::error_code& ec) noexcept {
        return accept_until(&remote, detail::Deadline(timeout), ec);
    }
    Socket accept(Timeout timeout, std::error_code& ec) noexcept {
        return accept_until(nullptr, detail::Deadline(timeout), ec);
    }
    Socket accept(Address& remote, Timeout timeout) {
        std::error_code ec;
        Socket s = accept(remote, timeout, ec);
        if (ec) detail::throw_error(ec, detail::describe("accept on", local_address_or_empty()));
        return s;
    }
    Socket accept(Timeout timeout) {
        Address ignored;
        return accept(ignored, timeout);
    }

    // Stops sending (the peer's recv then returns 0), receiving, or both. The socket stays open.
    void shutdown(Shutdown how, std::error_code& ec) noexcept {
        if (!check_open(ec)) return;
        int native = how == Shutdown::read ? detail::shut_read
                     : how == Shutdown::write ? detail::shut_write : detail::shut_both;
        if (::shutdown(handle_, native) != 0) ec = detail::last_error();
    }
    void shutdown(Shutdown how) {
        std::error_code ec;
        shutdown(how, ec);
        detail::throw_if(ec, "shutdown");
    }

    // The polite close the HOWTO asks for: stop sending, read (and discard) until the peer
    // closes too or timeout passes, then close. The last bytes sent are not lost to a reset
    // caused by unread data. How it ended is a result, not an error: the socket is closed in
    // every case. Only a socket that was not open, or a failing close(), is an error.
    CloseResult graceful_close(Timeout timeout, std::error_code& ec) noexcept {
        CloseResult result;
        if (!check_open(ec)) return result;
        std::error_code io_ec;
        shutdown(Shutdown::write, io_ec);
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
    CloseResult graceful_close(Timeout timeout) {
        std::error_code ec;
        CloseResult result = graceful_close(timeout, ec);
        detail::throw_if(ec, "graceful_close");
        return result;
    }

    // ---- one call: may move fewer bytes than asked -----------------------------------------

    // Sends what the kernel takes in one call (at least one byte unless size is 0).
    std::size_t send(const void* data, std::size_t size, std::error_code& ec) noexcept {
        return transfer(const_cast<void*>(data), size, true, detail::Deadline(), ec);
    }
    std::size_t send(const void* data, std::size_t size) {
        std::error_code ec;
        std::size_t n = send(data, size, ec);
        if (ec) throw_transfer(ec, "send", n);
        return n;
    }
    std::size_t send(std::string_view bytes) { return send(bytes.data(), bytes.size()); }

    // Receives what is there in one call, at most capacity bytes. 0 means the peer closed.
    std::size_t recv(void* buffer, std::size_t capacity, std::error_code& ec) noexcept {
        return transfer(buffer, capacity, false, detail::Deadline(), ec);
    }
    std::size_t recv(void* buffer, std::size_t capacity) {
        std::error_code ec;
        std::size_t n = recv(buffer, capacity, ec);
        if (ec) throw_transfer(ec, "recv", n);
        return n;
    }
    std::size_t recv(void* buffer, std::size_t capacity, Timeout timeout, std::error_code& ec) noexcept {
        const detail::Deadline deadline(timeout);
        detail::WindowsNonBlockingForDeadline mode(handle_, deadline.finite());  // else Winsock blocks
        return transfer(buffer, capacity, false, deadline, ec);
    }
    std::size_t recv(void* buffer, std::size_t capacity, Timeout timeout) {
        std::error_code ec;
        std::size_t n = recv(buffer, capacity, timeout, ec);
        if (ec) throw_transfer(ec, "recv", n);
        return n;
    }

    // ---- loops: every byte or an error, with the count that moved --------------------------

    // Sends all size bytes, finishing partial sends and retrying EINTR. On error, returns (or
    // reports in TransferError) how many bytes were sent. Never raises SIGPIPE: a vanished
    // peer is EPIPE / connection reset.
    std::size_t send_all(const void* data, std::size_t size, std::error_code& ec) noexcept {
        return send_all_until(data, size, detail::Deadline(), ec);
    }
    std::size_t send_all(const void* data, std::size_t size) {
        std::error_code ec;
        std::size_t n = send_all(data, size, ec);
        if (ec) throw_transfer(ec, "send_all", n);
        return n;
    }
    // The whole transfer must finish within timeout (not each call).
    std::size_t send_all(const void* data, std::size_t size, Timeout timeout, std::error_code& ec) noexcept {
        return send_all_until(data, size, detail::Deadline(timeout), ec);
    }
    std::size_t send_all(const void* data, std::size_t size, Timeout timeout) {
        std::error_code ec;
        std::size_t n = send_all(data, size, timeout, ec);
        if (ec) throw_transfer(ec, "send_all", n);
        return n;
    }

    // Receives exactly size bytes. If the peer closes first, the error is errc::end_of_stream
    // and the bytes that did arrive are at the front of buffer, counted in the result.
    std::size_t recv_exact(void* buffer, std::size_t size, std::error_code& ec) noexcept {
        return recv_exact_until(buffer, size, detail::Deadline(), ec);
    }
    std::size_t recv_exact(void* buffer, std::size_t size) {
        std::error_code ec;
        std::size_t n = recv_exact(buffer, size, ec);
        if (ec) throw_transfer(ec, "recv_exact", n);
        return n;
    }
    std::size_t recv_exact(void* buffer, std::size_t size, Timeout timeout, std::error_code& ec) noexcept {
        return recv_exact_until(buffer, size, detail::Deadline(timeout), ec);
    }
    std::size_t recv_exact(void* buffer, std::size_t size, Timeout timeout) {
        std::error_code ec;
        std::size_t n = recv_exact(buffer, size, timeout, ec);
        if (ec) throw_transfer(ec, "recv_exact", n);
        return n;
    }

    // Container forms: std::string, std::string_view, std::vector, std::array of bytes.
    template <class Bytes, class = detail::if_byte_range<const Bytes>>
    std::size_t send_all(const Bytes& bytes) { return send_all(bytes.data(), bytes.size()); }
    template <class Bytes, class = detail::if_byte_range<const Bytes>>
    std::size_t send_all(const Bytes& bytes, std::error_code& ec) noexcept {
        return send_all(bytes.data(), bytes.size(), ec);
    }
    template <class Bytes, class = detail::if_byte_range<const Bytes>>
    std::size_t send_all(const Bytes& bytes, Timeout timeout) { return send_all(bytes.data(), bytes.size(), timeout); }
    std::size_t send_all(std::string_view text) { return send_all(text.data(), text.size()); }
    std::size_t send_all(std::string_view text, std::error_code& ec) noexcept {
        return send_all(text.data(), text.size(), ec);
    }

    // Fills the whole container (size it first).
    template <class Bytes, class = detail::if_writable_byte_range<Bytes>>
    std::size_t recv_exact(Bytes& bytes) { return recv_exact(bytes.data(), bytes.size()); }
    template <class Bytes, class = detail::if_writable_byte_range<Bytes>>
    std::size_t recv_exact(Bytes& bytes, std::error_code& ec) noexcept {
        return recv_exact(bytes.data(), bytes.size(), ec);
    }
    template <class Bytes, class = detail::if_writable_byte_range<Bytes>>
    std::size_t recv_exact(Bytes& bytes, Timeout timeout) { return recv_exact(bytes.data(), bytes.size(), timeout); }

    // Gather write (named apart from send_all(data, size) so that nullptr is not ambiguous):
    // all pieces, in order, in as few system calls as the kernel allows (one,
    // usually). Returns the total sent; partial writes resume mid-piece.
    std::size_t send_all_buffers(const ConstBuffer* buffers, std::size_t count, std::error_code& ec) noexcept {
        return send_all_buffers_until(buffers, count, detail::Deadline(), ec);
    }
    std::size_t send_all_buffers(const ConstBuffer* buffers, std::size_t count) {
        std::error_code ec;
        std::size_t n = send_all_buffers(buffers, count, ec);
        if (ec) throw_transfer(ec, "send_all", n);
        return n;
    }
    std::size_t send_all_buffers(const ConstBuffer* buffers, std::size_t count, Timeout timeout,
                                 std::error_code& ec) noexcept {
        return send_all_buffers_until(buffers, count, detail::Deadline(timeout), ec);
    }
    std::size_t send_all_buffers(const ConstBuffer* buffers, std::size_t count, Timeout timeout) {
        std::error_code ec;
        std::size_t n = send_all_buffers(buffers, count, timeout, ec);
        if (ec) throw_transfer(ec, "send_all", n);
        return n;
    }
    std::size_t send_all(std::initializer_list<ConstBuffer> buffers) {
        return send_all_buffers(buffers.begin(), buffers.size());
    }
    std::size_t send_all(std::initializer_list<ConstBuffer> buffers, std::error_code& ec) noexcept {
        return send_all_buffers(buffers.begin(), buffers.size(), ec);
    }

    // ---- non-blocking: never wait ----------------------------------------------------------

    // Switches O_NONBLOCK / FIONBIO. Plain calls still complete or fail; try_* calls never wait.
    void set_nonblocking(bool on, std::error_code& ec) noexcept {
        if (check_open(ec) && detail::set_nonblocking(handle_, on) != 0) ec = detail::last_error();
    }
    void set_nonblocking(bool on) {
        std::error_code ec;
        set_nonblocking(on, ec);
        detail::throw_if(ec, "set_nonblocking");
    }

    // std::nullopt: the call would block. On POSIX these never block (MSG_DONTWAIT); on Windows
    // call set_nonblocking(true) first. try_recv returning 0 means the peer closed.
    std::optional<std::size_t> try_send(const void* data, std::size_t size, std::error_code& ec) noexcept {
        return try_transfer(const_cast<void*>(data), size, true, ec);
    }
    std::optional<std::size_t> try_send(const void* data, std::size_t size) {
        std::error_code ec;
        auto n = try_send(data, size, ec);
        if (ec) throw_transfer(ec, "send", 0);
        return n;
    }
    std::optional<std::size_t> try_recv(void* buffer, std::size_t capacity, std::error_code& ec) noexcept {
        return try_transfer(buffer, capacity, false, ec);
    }
    std::optional<std::size_t> try_recv(void* buffer, std::size_t capacity) {
        std::error_code ec;
        auto n = try_recv(buffer, capacity, ec);
        if (ec) throw_transfer(ec, "recv", 0);
        return n;
    }

    // The listener must be non-blocking (set_nonblocking(true)). std::nullopt: nobody waiting,
    // including a client that reset before we got to it.
    std::optional<Socket> try_accept(Address* remote, std::error_code& ec) noexcept {
        if (!check_open(ec)) return std::nullopt;
        for (;;) {
            Address peer;
            detail::socklen len = Address::capacity();
            native_handle_type h = detail::accept_socket(handle_, peer.data(), &len);
            if (h != detail::invalid_handle) {
                peer.resize(len);
                if (remote) *remote = peer;
                return Socket(h);
            }
            int code = detail::last_error_code();
            if (detail::is_interrupted(code)) continue;
            if (detail::is_would_block(code) || aborted_before_accept(code)) return std::nullopt;
            ec = detail::os_error(code);
            return std::nullopt;
        }
    }
    std::optional<Socket> try_accept(Address* remote = nullptr) {
        std::error_code ec;
        auto s = try_accept(remote, ec);
        if (ec) detail::throw_error(ec, detail::describe("accept on", local_address_or_empty()));
        return s;
    }

    // ---- datagrams -------------------------------------------------------------------------

    std::size_t send_to(const Address& to, const void* data, std::size_t size, std::error_code& ec) noexcept {
        if (!check_open(ec)) return 0;
        for (;;) {
            auto n = ::sendto(handle_, static_cast<const char*>(data), static_cast<detail::io_size>(size),
                              detail::send_flags, to.data(), to.size());
            if (n >= 0) return static_cast<std::size_t>(n);
            int code = detail::last_error_code();
            if (detail::is_interrupted(code)) continue;
            if (detail::is_would_block(code) && detail::wait_after_would_block(handle_, true, {}, ec)) continue;
            if (!ec) ec = detail::os_error(code);
            return 0;
        }
    }
    std::size_t send_to(const Address& to, const void* data, std::size_t size) {
        std::error_code ec;
        std::size_t n = send_to(to, data, size, ec);
        if (ec) detail::throw_error(ec, detail::describe("send_to", to));
        return n;
    }
    std::size_t send_to(const Address& to, std::string_view bytes) { return send_to(to, bytes.data(), bytes.size()); }

    // One datagram. A datagram larger than capacity is cut and reported (truncated == true).
    Datagram recv_from(void* buffer, std::size_t capacity, std::error_code& ec) noexcept;
    Datagram recv_from(void* buffer, std::size_t capacity) {
        std::error_code ec;
        Datagram d = recv_from(buffer, capacity, ec);
        if (ec) detail::throw_error(ec, "recv_from");
        return d;
    }
    Datagram recv_from(void* buffer, std::size_t capacity, Timeout timeout, std::error_code& ec) noexcept {
        if (!check_open(ec)) return {};
        if (!detail::wait_ready(handle_, false, detail::Deadline(timeout), ec)) return {};
        return recv_from(buffer, capacity, ec);
    }
    Datagram recv_from(void* buffer, std::size_t capacity, Timeout timeout) {
        std::error_code ec;
        Datagram d = recv_from(buffer, capacity, timeout, ec);
        if (ec) detail::throw_error(ec, "recv_from");
        return d;
    }

    // ---- addresses -------------------------------------------------------------------------

    Address local_address(std::error_code& ec) const noexcept { return name_of(false, ec); }
    Address local_address() const {
        std::error_code ec;
        Address a = local_address(ec);
        detail::throw_if(ec, "getsockname");
        return a;
    }
    Address peer_address(std::error_code& ec) const noexcept { return name_of(true, ec); }
    Address peer_address() const {
        std::error_code ec;
        Address a = peer_address(ec);
        detail::throw_if(ec, "getpeername");
        return a;
    }

    // ---- typed options ---------------------------------------------------------------------

    void set_reuse_address(bool on, std::error_code& ec) noexcept { set_option(SOL_SOCKET, SO_REUSEADDR, on, ec); }
    void set_reuse_address(bool on) { set_option_or_throw(SOL_SOCKET, SO_REUSEADDR, on, "SO_REUSEADDR"); }
    bool reuse_address() const { return get_option_or_throw(SOL_SOCKET, SO_REUSEADDR, "SO_REUSEADDR") != 0; }

    void set_no_delay(bool on, std::error_code& ec) noexcept { set_option(IPPROTO_TCP, TCP_NODELAY, on, ec); }
    void set_no_delay(bool on) { set_option_or_throw(IPPROTO_TCP, TCP_NODELAY, on, "TCP_NODELAY"); }
    bool no_delay() const { return get_option_or_throw(IPPROTO_TCP, TCP_NODELAY, "TCP_NODELAY") != 0; }

    void set_keep_alive(bool on, std::error_code& ec) noexcept { set_option(SOL_SOCKET, SO_KEEPALIVE, on, ec); }
    void set_keep_alive(bool on) { set_option_or_throw(SOL_SOCKET, SO_KEEPALIVE, on, "SO_KEEPALIVE"); }
    bool keep_alive() const { return get_option_or_throw(SOL_SOCKET, SO_KEEPALIVE, "SO_KEEPALIVE") != 0; }

    // Dead-peer detection: first probe after idle seconds of silence, then every interval
    // seconds, giving up after count unanswered probes. Turns keep-alive on.
    void set_keep_alive(int idle_seconds, int interval_seconds, int count, std::error_code& ec) noexcept {
        set_option(SOL_SOCKET, SO_KEEPALIVE, 1, ec);
#if defined(TCP_KEEPIDLE)
        if (!ec) set_option(IPPROTO_TCP, TCP_KEEPIDLE, idle_seconds, ec);
#elif defined(TCP_KEEPALIVE)
        if (!ec) set_option(IPPROTO_TCP, TCP_KEEPALIVE, idle_seconds, ec);
#endif
#if defined(TCP_KEEPINTVL)
        if (!ec) set_option(IPPROTO_TCP, TCP_KEEPINTVL, interval_seconds, ec);
#endif
#if defined(TCP_KEEPCNT)
        if (!ec) set_option(IPPROTO_TCP, TCP_KEEPCNT, count, ec);
#endif
        (void)idle_seconds, (void)interval_seconds, (void)count;
    }
    void set_keep_alive(int idle_seconds, int interval_seconds, int count) {
        std::error_code ec;
        set_keep_alive(idle_seconds, interval_seconds, count, ec);
        detail::throw_if(ec, "set keep-alive");
    }

    void set_send_buffer_size(int bytes, std::error_code& ec) noexcept { set_option(SOL_SOCKET, SO_SNDBUF, bytes, ec); }
    void set_send_buffer_size(int bytes) { set_option_or_throw(SOL_SOCKET, SO_SNDBUF, bytes, "SO_SNDBUF"); }
    int send_buffer_size() const { return get_option_or_throw(SOL_SOCKET, SO_SNDBUF, "SO_SNDBUF"); }

    void set_receive_buffer_size(int bytes, std::error_code& ec) noexcept { set_option(SOL_SOCKET, SO_RCVBUF, bytes, ec); }
    void set_receive_buffer_size(int bytes) { set_option_or_throw(SOL_SOCKET, SO_RCVBUF, bytes, "SO_RCVBUF"); }
    int receive_buffer_size() const { return get_option_or_throw(SOL_SOCKET, SO_RCVBUF, "SO_RCVBUF"); }

    // false: an IPv6 listener also accepts IPv4 clients (seen as ::ffff:a.b.c.d).
    void set_v6_only(bool on, std::error_code& ec) noexcept { set_option(IPPROTO_IPV6, IPV6_V6ONLY, on, ec); }
    void set_v6_only(bool on) { set_option_or_throw(IPPROTO_IPV6, IPV6_V6ONLY, on, "IPV6_V6ONLY"); }
    bool v6_only() const { return get_option_or_throw(IPPROTO_IPV6, IPV6_V6ONLY, "IPV6_V6ONLY") != 0; }

    void set_broadcast(bool on, std::error_code& ec) noexcept { set_option(SOL_SOCKET, SO_BROADCAST, on, ec); }
    void set_broadcast(bool on) { set_option_or_throw(SOL_SOCKET, SO_BROADCAST, on, "SO_BROADCAST"); }
    bool broadcast() const { return get_option_or_throw(SOL_SOCKET, SO_BROADCAST, "SO_BROADCAST") != 0; }

    // SO_LINGER. std::nullopt (the default): close returns at once and the kernel sends what is
    // queued in the background. A duration: close waits that long for the queue to drain.
    // Zero seconds: close discards the queue and resets the connection.
    void set_linger(std::optional<std::chrono::seconds> linger, std::error_code& ec) noexcept {
        ::linger value{};
        value.l_onoff = linger.has_value() ? 1 : 0;
        value.l_linger = static_cast<decltype(value.l_linger)>(linger ? linger->count() : 0);
        set_raw_option(SOL_SOCKET, SO_LINGER, &value, sizeof value, ec);
    }
    void set_linger(std::optional<std::chrono::seconds> linger) {
        std::error_code ec;
        set_linger(linger, ec);
        detail::throw_if(ec, "SO_LINGER");
    }

    // SO_RCVTIMEO / SO_SNDTIMEO: each blocking call gives up with errc::timed_out after this
    // long. Zero turns the timeout off. (For a deadline over a whole transfer use the Timeout
    // arguments instead.)
    void set_receive_timeout(Timeout timeout, std::error_code& ec) noexcept { set_timeout_option(SO_RCVTIMEO, timeout, ec); }
    void set_receive_timeout(Timeout timeout) {
        std::error_code ec;
        set_receive_timeout(timeout, ec);
        detail::throw_if(ec, "SO_RCVTIMEO");
    }
    void set_send_timeout(Timeout timeout, std::error_code& ec) noexcept { set_timeout_option(SO_SNDTIMEO, timeout, ec); }
    void set_send_timeout(Timeout timeout) {
        std::error_code ec;
        set_send_timeout(timeout, ec);
        detail::throw_if(ec, "SO_SNDTIMEO");
    }

    // Joins or leaves a multicast group (IPv4 or IPv6, on the default interface, or on the one
    // with this index).
    void join_multicast(const Address& group, std::error_code& ec, unsigned interface_index = 0) noexcept {
        multicast_membership(group, true, interface_index, ec);
    }
    void join_multicast(const Address& group, unsigned interface_index = 0) {
        std::error_code ec;
        multicast_membership(group, true, interface_index, ec);
        if (ec) detail::throw_error(ec, detail::describe("join multicast", group));
    }
    void leave_multicast(const Address& group, std::error_code& ec, unsigned interface_index = 0) noexcept {
        multicast_membership(group, false, interface_index, ec);
    }
    void leave_multicast(const Address& group, unsigned interface_index = 0) {
        std::error_code ec;
        multicast_membership(group, false, interface_index, ec);
        if (ec) detail::throw_error(ec, detail::describe("leave multicast", group));
    }
    void set_multicast_loop(bool on, Family family = Family::ipv4) {
        if (family == Family::ipv6)
            set_option_or_throw(IPPROTO_IPV6, IPV6_MULTICAST_LOOP, on, "IPV6_MULTICAST_LOOP");
        else
            set_option_or_throw(IPPROTO_IP, IP_MULTICAST_LOOP, on, "IP_MULTICAST_LOOP");
    }

    // The raw option calls, for anything not wrapped above.
    void set_option(int level, int name, int value, std::error_code& ec) noexcept {
        set_raw_option(level, name, &value, sizeof value, ec);
    }
    bool get_option(int level, int name, int& value, std::error_code& ec) const noexcept {
        if (!check_open(ec)) return false;
        detail::socklen len = sizeof value;
        value = 0;
        if (::getsockopt(handle_, level, name, reinterpret_cast<char*>(&value), &len) != 0) {
            ec = detail::last_error();
            return false;
        }
        return true;
    }

    bool is_stream(std::error_code& ec) const noexcept {
        int type = 0;
        return get_option(SOL_SOCKET, SO_TYPE, type, ec) && type == SOCK_STREAM;
    }

private:
    bool check_open(std::error_code& ec) const noexcept {
        ec.clear();
        if (is_open()) return true;
        ec = errc::not_open;
        return false;
    }

    static bool aborted_before_accept(int code) noexcept {
        // The client reset between readiness and accept: not the listener's error, try again.
#if defined(_WIN32)
        return code == WSAECONNRESET;
#else
        return code == ECONNABORTED || code == EPROTO;
#endif
    }

    Address local_address_or_empty() const noexcept {
        std::error_code ignored;
        return local_address(ignored);
    }

    [[noreturn]] void throw_transfer(std::error_code ec, const char* operation, std::size_t bytes) const {
        std::error_code ignored;
        Address peer = is_open() ? peer_address(ignored) : Address();
        std::string what = peer.family() == Family::unspecified ? operation
                                                                : std::string(operation) + " with " + peer.to_string();
        throw TransferError(ec, what, bytes);
    }

    Address name_of(bool peer, std::error_code& ec) const noexcept {
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

    // The bare system call: send (never raising SIGPIPE) or recv, at most max_io bytes.
    auto io_call(void* buffer, std::size_t size, bool write, int flags) noexcept {
        auto chunk = static_cast<detail::io_size>(size < detail::max_io ? size : detail::max_io);
        return write ? ::send(handle_, static_cast<const char*>(buffer), chunk, flags)
                     : ::recv(handle_, static_cast<char*>(buffer), chunk, flags);
    }

    // One send or recv call, retried on EINTR, waiting on "would block" (see the rule at the
    // top). Returns the bytes moved; for recv, 0 means the peer closed.
    std::size_t transfer(void* buffer, std::size_t size, bool write,
                         const detail::Deadline& deadline, std::error_code& ec) noexcept {
        if (!check_open(ec)) return 0;
        int flags = (deadline.finite() ? detail::dontwait_flag : 0) |
                    (write ? detail::send_flags : 0);
        for (;;) {
            auto n = io_call(buffer, size, write, flags);
            if (n >= 0) return static_cast<std::size_t>(n);
            int code = detail::last_error_code();
            if (detail::is_interrupted(code)) continue;
            if (detail::is_would_block(code) && detail::wait_after_would_block(handle_, write, deadline, ec)) continue;
            if (!ec) ec = detail::os_error(code);
            return 0;
        }
    }

    std::optional<std::size_t> try_transfer(void* buffer, std::size_t size, bool write, std::error_code& ec) noexcept {
        if (!check_open(ec)) return std::nullopt;
        int flags = detail::dontwait_flag | (write ? detail::send_flags : 0);
        for (;;) {
            auto n = io_call(buffer, size, write, flags);
            if (n >= 0) return static_cast<std::size_t>(n);
            int code = detail::last_error_code();
            if (detail::is_interrupted(code)) continue;
            if (!detail::is_would_block(code)) ec = detail::os_error(code);
            return std::nullopt;
        }
    }

    // send_all and recv_exact refuse datagram sockets: looping over datagrams would glue or
    // split messages. The check runs only when a transfer could not finish in one call.
    bool refuse_datagram(std::error_code& ec) noexcept {
        std::error_code type_ec;
        if (is_stream(type_ec) || type_ec) return false;
        ec = errc::not_stream_socket;
        return true;
    }

    std::size_t send_all_buffers_until(const ConstBuffer* buffers, std::size_t count,
                                       const detail::Deadline& deadline, std::error_code& ec) noexcept;

    std::size_t send_all_until(const void* data, std::size_t size, const detail::Deadline& deadline,
                               std::error_code& ec) noexcept {
        detail::WindowsNonBlockingForDeadline mode(handle_, deadline.finite());
        const char* p = static_cast<const char*>(data);
        std::size_t done = 0;
        bool type_checked = false;
        while (done < size) {
            done += transfer(const_cast<char*>(p + done), size - done, true, deadline, ec);
            if (ec) return done;
            if (done < size && !std::exchange(type_checked, true) && refuse_datagram(ec)) return done;
        }
        if (size == 0) check_open(ec);
        return done;
    }

    std::size_t recv_exact_until(void* buffer, std::size_t size, const detail::Deadline& deadline,
                                 std::error_code& ec) noexcept {
        detail::WindowsNonBlockingForDeadline mode(handle_, deadline.finite());
        char* p = static_cast<char*>(buffer);
        std::size_t done = 0;
        bool type_checked = false;
        while (done < size) {
            std::size_t n = transfer(p + done, size - done, false, deadline, ec);
            if (ec) return done;
            if (n == 0) {
                ec = errc::end_of_stream;
                return done;
            }
            done += n;
            if (done < size && !std::exchange(type_checked, true) && refuse_datagram(ec)) return done;
        }
        if (size == 0) check_open(ec);
        return done;
    }

    void connect_until(const Address& address, const detail::Deadline& deadline, std::error_code& ec) noexcept {
        if (!check_open(ec)) return;
        std::optional<detail::NonBlockingScope> mode;
        if (deadline.finite()) {
            mode.emplace(handle_, ec);
            if (ec) return;
        }
        if (start_connect(address, ec) || ec) return;
        if (detail::wait_ready(handle_, true, deadline, ec)) finish_connect(ec);
    }

    Socket accept_until(Address* remote, const detail::Deadline& deadline, std::error_code& ec) noexcept {
        if (!check_open(ec)) return Socket();
        std::optional<detail::NonBlockingScope> mode;
        if (deadline.finite()) {
            mode.emplace(handle_, ec);
            if (ec) return Socket();
        }
        for (;;) {
            Address peer;
            detail::socklen len = Address::capacity();
            native_handle_type h = detail::accept_socket(handle_, peer.data(), &len);
            if (h != detail::invalid_handle) {
                peer.resize(len);
                if (remote) *remote = peer;
                Socket accepted(h);
                // Outside Linux an accepted socket inherits the listener's non-blocking mode.
                if (mode && mode->changed()) detail::set_nonblocking(h, false);
                return accepted;
            }
            int code = detail::last_error_code();
            if (detail::is_interrupted(code) || aborted_before_accept(code)) continue;
            if (detail::is_would_block(code) && detail::wait_after_would_block(handle_, false, deadline, ec)) continue;
            if (!ec) ec = detail::os_error(code);
            return Socket();
        }
    }

    void set_raw_option(int level, int name, const void* value, std::size_t size, std::error_code& ec) noexcept {
        if (!check_open(ec)) return;
        if (::setsockopt(handle_, level, name, static_cast<const char*>(value), static_cast<detail::socklen>(size)) != 0)
            ec = detail::last_error();
    }
    void set_option_or_throw(int level, int name, int value, const char* what) {
        std::error_code ec;
        set_option(level, name, value, ec);
        detail::throw_if(ec, what);
    }
    int get_option_or_throw(int level, int name, const char* what) const {
        std::error_code ec;
        int value = 0;
        get_option(level, name, value, ec);
        detail::throw_if(ec, what);
        return value;
    }

    // Timeout::max() turns the option off (the OS's 0); zero or negative means "don't wait",
    // which the OS can only approximate by its smallest timeout (1 us on POSIX, 1 ms on Windows).
    void set_timeout_option(int name, Timeout timeout, std::error_code& ec) noexcept {
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

    void multicast_membership(const Address& group, bool join, unsigned interface_index, std::error_code& ec) noexcept {
        if (group.family() == Family::ipv4) {
            ip_mreq request{};
            request.imr_multiaddr = reinterpret_cast<const sockaddr_in*>(group.data())->sin_addr;
            request.imr_interface.s_addr = htonl(INADDR_ANY);
            set_raw_option(IPPROTO_IP, join ? IP_ADD_MEMBERSHIP : IP_DROP_MEMBERSHIP, &request, sizeof request, ec);
        } else if (group.family() == Family::ipv6) {
            ipv6_mreq request{};
            request.ipv6mr_multiaddr = reinterpret_cast<const sockaddr_in6*>(group.data())->sin6_addr;
            request.ipv6mr_interface = interface_index;
            set_raw_option(IPPROTO_IPV6, join ? IPV6_JOIN_GROUP : IPV6_LEAVE_GROUP, &request, sizeof request, ec);
        } else {
            ec = errc::invalid_address;
        }
    }

    native_handle_type handle_ = detail::invalid_handle;
};

// ---- free functions: the one-line forms --------------------------------------------------

// A listening TCP socket bound to address (port 0: the OS picks; read it from local_address()).
// SO_REUSEADDR is set on POSIX so a restarted server can rebind while old connections sit in
// TIME_WAIT. (On Windows SO_REUSEADDR would let others steal the port, so it is not set there.)
inline Socket listen_on(const Address& address, int backlog, std::error_code& ec) {
    Socket s = Socket::open(address.family(), Type::stream, ec);
#if !defined(_WIN32)
    if (!ec && address.family() != Family::unix_domain) s.set_reuse_address(true, ec);
#endif
    if (!ec) s.bind(address, ec);
    if (!ec) s.listen(backlog, ec);
    if (ec) s = Socket();
    return s;
}
inline Socket listen_on(const Address& address, std::error_code& ec) { return listen_on(address, SOMAXCONN, ec); }
inline Socket listen_on(const Address& address, int backlog = SOMAXCONN) {
    std::error_code ec;
    Socket s = listen_on(address, backlog, ec);
    if (ec) detail::throw_error(ec, detail::describe("listen on", address));
    return s;
}

namespace detail {

inline Socket connect_one(const Address& address, const Deadline& deadline, std::error_code& ec) {
    Socket s = Socket::open(address.family(), Type::stream, ec);
    if (ec) return Socket();
    if (deadline.finite()) {
        s.connect(address, deadline.remaining(), ec);
    } else {
        s.connect(address, ec);
    }
    if (ec) return Socket();
    return s;
}

inline Socket connect_any(std::string_view host, int port, const Deadline& deadline, std::error_code& ec,
                          Address* failed_at) {
    auto addresses = resolve(host, port, ec);
    if (ec) return Socket();
    for (const auto& address : addresses) {
        if (deadline.expired()) {
            ec = timed_out();
            break;
        }
        Socket s = connect_one(address, deadline, ec);
        if (!ec) return s;
        if (failed_at) *failed_at = address;
    }
    return Socket();
}

}  // namespace detail

inline Socket connect_to(const Address& address, std::error_code& ec) {
    return detail::connect_one(address, detail::Deadline(), ec);
}
inline Socket connect_to(const Address& address) {
    std::error_code ec;
    Socket s = connect_to(address, ec);
    if (ec) detail::throw_error(ec, detail::describe("connect", address));
    return s;
}
inline Socket connect_to(const Address& address, Timeout timeout, std::error_code& ec) {
    return detail::connect_one(address, detail::Deadline(timeout), ec);
}
inline Socket connect_to(const Address& address, Timeout timeout) {
    std::error_code ec;
    Socket s = connect_to(address, timeout, ec);
    if (ec) detail::throw_error(ec, detail::describe("connect", address));
    return s;
}

// Resolves host and tries each address in turn; the error is the last one's.
inline Socket connect_to(std::string_view host, int port, std::error_code& ec) {
    return detail::connect_any(host, port, detail::Deadline(), ec, nullptr);
}
// One deadline shared by all the addresses host resolves to.
inline Socket connect_to(std::string_view host, int port, Timeout timeout, std::error_code& ec) {
    return detail::connect_any(host, port, detail::Deadline(timeout), ec, nullptr);
}

namespace detail {
inline Socket connect_any_or_throw(std::string_view host, int port, const Deadline& deadline) {
    std::error_code ec;
    Address last;
    Socket s = connect_any(host, port, deadline, ec, &last);
    if (ec) {
        std::string what = "connect " + std::string(host) + ":" + std::to_string(port);
        if (last.family() != Family::unspecified) what += " (last tried " + last.to_string() + ")";
        throw_error(ec, what);
    }
    return s;
}
}  // namespace detail

inline Socket connect_to(std::string_view host, int port) {
    return detail::connect_any_or_throw(host, port, detail::Deadline());
}
inline Socket connect_to(std::string_view host, int port, Timeout timeout) {
    return detail::connect_any_or_throw(host, port, detail::Deadline(timeout));
}

#if !defined(_WIN32)
// Two connected sockets (AF_UNIX), e.g. to talk to a child process or between threads.
inline std::pair<Socket, Socket> socket_pair(Type type, std::error_code& ec) noexcept {
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
inline std::pair<Socket, Socket> socket_pair(Type type = Type::stream) {
    std::error_code ec;
    auto pair = socket_pair(type, ec);
    detail::throw_if(ec, "socketpair");
    return pair;
}
#endif

// ---- out-of-line members ----------------------------------------------------------------

inline std::size_t Socket::send_all_buffers_until(const ConstBuffer* buffers, std::size_t count,
                                                  const detail::Deadline& deadline, std::error_code& ec) noexcept {
    if (!check_open(ec)) return 0;
    // Under a deadline the call must not block in the kernel (a blocking socket would wait
    // there past the deadline): MSG_DONTWAIT on POSIX, non-blocking mode on Windows.
    detail::WindowsNonBlockingForDeadline mode(handle_, deadline.finite());
    const int flags = deadline.finite() ? detail::dontwait_flag : 0;
    std::size_t total = 0, index = 0, offset = 0;  // offset: bytes of buffers[index] already sent
    while (index < count && buffers[index].size == offset) ++index, offset = 0;
    while (index < count) {
        long sent = detail::gather_send(handle_, buffers + index, count - index, offset, flags);
        if (sent < 0) {
            int code = detail::last_error_code();
            if (detail::is_interrupted(code)) continue;
            if (detail::is_would_block(code) && detail::wait_after_would_block(handle_, true, deadline, ec)) continue;
            if (!ec) ec = detail::os_error(code);
            return total;
        }
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
    }
    return total;
}

inline Datagram Socket::recv_from(void* buffer, std::size_t capacity, std::error_code& ec) noexcept {
    Datagram d;
    if (!check_open(ec)) return d;
    for (;;) {
        detail::socklen len = Address::capacity();
        bool truncated = false;
        long n = detail::recv_datagram(handle_, buffer, capacity, d.sender.data(), &len, truncated);
        if (n >= 0) {
            d.sender.resize(len);
            d.size = static_cast<std::size_t>(n);
            d.truncated = truncated;
            return d;
        }
        int code = detail::last_error_code();
        if (detail::is_interrupted(code)) continue;
        if (detail::is_would_block(code) && detail::wait_after_would_block(handle_, false, {}, ec)) continue;
        if (!ec) ec = detail::os_error(code);
        return d;
    }
}

}  // namespace sockets
