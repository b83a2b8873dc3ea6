/// @file
/// Socket: a move-only owner of one native socket handle, and the free functions that make
/// the common cases one line (listen_on, connect_to).
///
/// The rule for every operation (detail/io.hpp and docs/guide.md, "Time and blocking"):
///   - plain calls (connect, accept, send, recv, send_all, recv_exact, ...) complete or fail,
///     whatever the socket's mode; SO_RCVTIMEO / SO_SNDTIMEO bound them if set;
///   - a Timeout argument bounds the whole operation (not each system call);
///   - try_send / try_recv / try_accept never wait: std::nullopt when the call would block.
/// Plain, timed and try_ calls behave the same on a blocking or non-blocking socket, on POSIX
/// and Windows, and may be mixed freely by threads sharing the socket.
#pragma once

#include <cstddef>
#include <climits>
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

/// Which direction shutdown() stops.
enum class Shutdown { read, write, both };

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

}  // namespace detail

/// Bytes to send: (pointer, size), a byte container (std::string, std::string_view,
/// std::vector / std::array of char, unsigned char or std::byte) or a string literal (without
/// its NUL). Also one piece of a gather write (header + body without copying them together).
struct ConstBuffer {
    /// The bytes and their count.
    ///@{
    const void* data = nullptr;
    std::size_t size = 0;
    ///@}

    constexpr ConstBuffer() noexcept = default;
    /// From (pointer, size), a string literal (without its NUL) or a byte container.
    ///@{
    constexpr ConstBuffer(const void* bytes, std::size_t count) noexcept : data(bytes), size(count) {}
    template <std::size_t N>
    constexpr ConstBuffer(const char (&text)[N]) noexcept  // NOLINT
        : data(text), size(N > 0 && text[N - 1] == '\0' ? N - 1 : N) {}
    template <class Bytes, class = detail::if_byte_range<const Bytes>>
    ConstBuffer(const Bytes& bytes) noexcept : data(bytes.data()), size(bytes.size()) {}  // NOLINT
    ///@}
    /// A writable char array is a buffer, not a string: how many of its bytes to send is
    /// unknowable, so say it with (pointer, size). (A const char* has no size either.)
    template <std::size_t N>
    ConstBuffer(char (&)[N]) = delete;
};

/// Room to receive into: (pointer, capacity) or a writable byte container, sized first.
struct MutableBuffer {
    /// The room and its size.
    ///@{
    void* data = nullptr;
    std::size_t size = 0;
    ///@}

    constexpr MutableBuffer() noexcept = default;
    /// From (pointer, capacity) or a writable byte container.
    ///@{
    constexpr MutableBuffer(void* bytes, std::size_t capacity) noexcept : data(bytes), size(capacity) {}
    template <class Bytes, class = detail::if_writable_byte_range<Bytes>>
    MutableBuffer(Bytes& bytes) noexcept : data(bytes.data()), size(bytes.size()) {}  // NOLINT
    template <std::size_t N>
    constexpr MutableBuffer(char (&bytes)[N]) noexcept : data(bytes), size(N) {}  // NOLINT
    template <std::size_t N>
    constexpr MutableBuffer(unsigned char (&bytes)[N]) noexcept : data(bytes), size(N) {}  // NOLINT
    ///@}
};

/// How graceful_close ended. None of these is an error: the socket is closed in every case.
struct CloseResult {
    /// The ways it can end.
    enum Ending {
        peer_closed,  ///< the peer closed its side too: the orderly end
        timed_out,    ///< the timeout passed first (the peer may still have been sending)
        peer_gone,    ///< the peer had already reset, or the socket was never connected
    };
    /// How it ended.
    Ending ending = peer_closed;
    std::size_t discarded = 0;  ///< bytes read and thrown away while waiting
};

/// What recv_from returns: how many bytes landed in the buffer, who sent them, and whether the
/// datagram was larger than the buffer (the rest of it is gone: datagrams are never split).
struct Datagram {
    /// Bytes received into the buffer.
    std::size_t size = 0;
    /// Who sent the datagram.
    Address sender;
    /// True if the datagram was larger than the buffer (the rest of it is lost).
    bool truncated = false;
};

namespace detail {

inline std::string describe(const char* operation, const Address& address) {
    return address.family() == Family::unspecified ? std::string(operation)
                                                   : std::string(operation) + " " + address.to_string();
}

// Largest single transfer handed to the OS: Winsock lengths are int.
inline constexpr std::size_t max_io = static_cast<std::size_t>(INT_MAX);

}  // namespace detail

/// How listen_on prepares a listener (C++17: set the fields, or aggregate-initialise).
struct ListenOptions {
    /// The listen() backlog.
    int backlog = SOMAXCONN;
    bool dual_stack = false;  ///< IPv6 address: accept IPv4 clients too (seen as \::ffff:a.b.c.d)
    bool reuse_port = false;  ///< SO_REUSEPORT: several listeners share the port (not on Windows)
};

class Socket;

namespace detail {
struct Segmentation;  // batch.hpp: whether send_many may hand the kernel UDP_SEGMENT runs
// What a transfer error on s says: "operation with PEER", or "operation on LOCAL" where there
// is no peer (see Socket::describe_connection). Any other stream: the operation alone.
std::string describe_transfer(const Socket& s, const char* operation);
template <class Stream>
std::string describe_transfer(const Stream&, const char* operation) {
    return operation;
}
}  // namespace detail

/// A move-only owner of one native socket handle.
class Socket {
public:
    /// The OS handle type: int on POSIX, SOCKET on Windows.
    using native_handle_type = sockets::native_handle_type;

    /// Not open. Every operation on it fails with errc::not_open.
    Socket() noexcept = default;

    /// Adopts a handle (e.g. from a C API); the Socket now closes it. Asks the OS once whether
    /// it is a stream or a message (datagram) socket.
    explicit Socket(native_handle_type handle) noexcept : handle_(handle), kind_(kind_of(handle)) {}

    /// Takes over other's handle (closing this socket's own first); other is left not open.
    ///@{
    Socket(Socket&& other) noexcept : kind_(other.kind_), segmentation_(other.segmentation_) {
        handle_ = other.release();
    }
    Socket& operator=(Socket&& other) noexcept {
        if (this != &other) {
            std::error_code ignored;
            close(ignored);
            kind_ = other.kind_;
            segmentation_ = other.segmentation_;
            handle_ = other.release();
        }
        return *this;
    }
    ///@}
    Socket(const Socket&) = delete;
    Socket& operator=(const Socket&) = delete;

    /// Closes without reporting: a destructor cannot throw. Call close() to see the error.
    ~Socket() {
        if (is_open()) detail::close_handle(handle_);
    }

    // ---- creation --------------------------------------------------------------------------

    /// A new socket of this family and type.
    ///@{
    static Socket open(Family family, Type type, std::error_code& ec) noexcept {
        ec.clear();
        native_handle_type h = detail::open_socket(detail::to_native(family), detail::to_native(type), 0);
        if (h == detail::invalid_handle) ec = detail::last_error();
        return Socket(h, type == Type::stream ? Kind::stream : Kind::messages);
    }
    static Socket open(Family family, Type type) {
        std::error_code ec;
        Socket s = open(family, type, ec);
        detail::throw_if(ec, "socket");
        return s;
    }
    ///@}
    /// A new TCP socket.
    static Socket tcp(Family family = Family::ipv4) { return open(family, Type::stream); }
    /// A new UDP socket.
    static Socket udp(Family family = Family::ipv4) { return open(family, Type::datagram); }

    // ---- ownership -------------------------------------------------------------------------

    /// The OS handle, still owned (and closed) by this Socket.
    native_handle_type native_handle() const noexcept { return handle_; }
    /// True unless closed, moved from, released or never opened.
    ///@{
    bool is_open() const noexcept { return handle_ != detail::invalid_handle; }
    explicit operator bool() const noexcept { return is_open(); }
    ///@}

    /// Gives up ownership: the caller must close the returned handle.
    [[nodiscard]] native_handle_type release() noexcept { return std::exchange(handle_, detail::invalid_handle); }

    /// Closes now and reports the OS's error. The socket is closed afterwards either way.
    ///@{
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
    ///@}

    // ---- connecting ------------------------------------------------------------------------

    /// Binds to a local address (port 0: the OS picks one).
    ///@{
    void bind(const Address& address, std::error_code& ec) noexcept {
        if (!check_open(ec)) return;
        if (::bind(handle_, address.data(), address.size()) != 0) ec = detail::last_error();
    }
    void bind(const Address& address) {
        std::error_code ec;
        bind(address, ec);
        if (ec) detail::throw_error(ec, detail::describe("bind", address));
    }
    ///@}

    /// Starts listening, with this backlog (SOMAXCONN unless given).
    ///@{
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
    ///@}

    /// Blocking connect. A signal landing mid-connect does not surface as EINTR: on TCP the
    /// kernel goes on connecting, so we wait for the outcome and read it from SO_ERROR; on a
    /// Unix-domain socket (waiting for room in a full backlog) nothing happened yet, so the
    /// connect is made again. Either way it returns only once connected, or with the error.
    /// SO_SNDTIMEO bounds it (std::errc::timed_out), as the kernel does for a blocking socket.
    ///@{
    void connect(const Address& address, std::error_code& ec) noexcept {
        connect_until(address, detail::Deadline(), ec);
    }
    void connect(const Address& address) {
        std::error_code ec;
        connect(address, ec);
        if (ec) detail::throw_error(ec, detail::describe("connect", address));
    }
    ///@}

    /// Connect giving up after timeout (std::errc::timed_out). POSIX has no per-call non-blocking
    /// connect, so the socket is left in non-blocking mode (every call of this library behaves
    /// the same in both modes; call set_nonblocking(false) before handing native_handle() to
    /// code that expects blocking mode). After a timeout the attempt may still be pending in the
    /// kernel: close the socket. A Unix-domain listener with a full backlog is retried until the
    /// deadline.
    ///@{
    void connect(const Address& address, Timeout timeout, std::error_code& ec) noexcept {
        connect_until(address, detail::Deadline(timeout), ec);
    }
    void connect(const Address& address, Timeout timeout) {
        std::error_code ec;
        connect(address, timeout, ec);
        if (ec) detail::throw_error(ec, detail::describe("connect", address));
    }
    ///@}

    /// Non-blocking connect, first half: returns true if already connected, false if the
    /// connection is under way (wait until writable, e.g. with a Poller, then finish_connect).
    ///@{
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
    ///@}

    /// Second half: the outcome of the connection attempt (SO_ERROR), once the socket is writable.
    ///@{
    void finish_connect(std::error_code& ec) noexcept {
        if (!check_open(ec)) return;
        int error = 0;
        if (get_option(SOL_SOCKET, SO_ERROR, error, ec) && error != 0) ec = detail::os_error(error);
    }
    void finish_connect() {
        std::error_code ec;
        finish_connect(ec);
        if (ec) detail::throw_error(ec, describe_connection("connect"));
    }
    ///@}

    /// Waits for a client and returns its connected socket; remote receives its address.
    ///@{
    [[nodiscard]] Socket accept(Address& remote, std::error_code& ec) noexcept {
        return accept_until(&remote, detail::Deadline(), ec);
    }
    [[nodiscard]] Socket accept(std::error_code& ec) noexcept { return accept_until(nullptr, detail::Deadline(), ec); }
    [[nodiscard]] Socket accept(Address& remote) {
        std::error_code ec;
        Socket s = accept(remote, ec);
        if (ec) detail::throw_error(ec, detail::describe("accept on", local_address_or_empty()));
        return s;
    }
    [[nodiscard]] Socket accept() {
        Address ignored;
        return accept(ignored);
    }
    ///@}

    /// Waits at most timeout for a client. The listener is switched to non-blocking mode once and
    /// left so (no per-call flag exists for accept; restoring it would race with other threads
    /// or forked workers sharing the listener); plain accept() still waits, so nothing else
    /// changes. A client that resets between readiness and accept, or a sibling process that
    /// takes the connection first, never turns this into a wait past the deadline.
    ///@{
    [[nodiscard]] Socket accept(Address& remote, Timeout timeout, std::error_code& ec) noexcept {
        return accept_until(&remote, detail::Deadline(timeout), ec);
    }
    [[nodiscard]] Socket accept(Timeout timeout, std::error_code& ec) noexcept {
        return accept_until(nullptr, detail::Deadline(timeout), ec);
    }
    [[nodiscard]] Socket accept(Address& remote, Timeout timeout) {
        std::error_code ec;
        Socket s = accept(remote, timeout, ec);
        if (ec) detail::throw_error(ec, detail::describe("accept on", local_address_or_empty()));
        return s;
    }
    [[nodiscard]] Socket accept(Timeout timeout) {
        Address ignored;
        return accept(ignored, timeout);
    }
    ///@}

    /// Stops sending (the peer's recv then returns 0), receiving, or both. The socket stays open.
    ///@{
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
    ///@}

    /// The polite close the HOWTO asks for: stop sending, read (and discard) until the peer
    /// closes too or timeout passes, then close. The last bytes sent are not lost to a reset
    /// caused by unread data. How it ended is a result, not an error: the socket is closed in
    /// every case. Only a socket that was not open, or a failing close(), is an error. After
    /// your own shutdown(Shutdown::read) the OS reports end-of-stream at once, so the wait
    /// for the peer cannot happen: it ends as peer_closed.
    ///@{
    CloseResult graceful_close(Timeout timeout, std::error_code& ec) noexcept {
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
    CloseResult graceful_close(Timeout timeout) {
        std::error_code ec;
        CloseResult result = graceful_close(timeout, ec);
        detail::throw_if(ec, "graceful_close");
        return result;
    }
    ///@}

    // ---- one call: may move fewer bytes than asked -----------------------------------------

    /// Sends what the kernel takes in one call (at least one byte unless size is 0).
    ///@{
    [[nodiscard]] std::size_t send(const void* data, std::size_t size, std::error_code& ec) noexcept {
        return transfer(const_cast<void*>(data), size, true, detail::Deadline(), ec);
    }
    [[nodiscard]] std::size_t send(const void* data, std::size_t size) {
        std::error_code ec;
        std::size_t n = send(data, size, ec);
        if (ec) throw_transfer(ec, "send", n);
        return n;
    }
    [[nodiscard]] std::size_t send(const void* data, std::size_t size, Timeout timeout, std::error_code& ec) noexcept {
        return transfer(const_cast<void*>(data), size, true, detail::Deadline(timeout), ec);
    }
    [[nodiscard]] std::size_t send(const void* data, std::size_t size, Timeout timeout) {
        std::error_code ec;
        std::size_t n = send(data, size, timeout, ec);
        if (ec) throw_transfer(ec, "send", n);
        return n;
    }
    ///@}

    /// Receives what is there in one call, at most capacity bytes. 0 means the peer closed (or
    /// capacity was 0: that returns at once, without a system call). On a datagram socket one
    /// call is one datagram; one larger than capacity is errc::datagram_truncated, with the
    /// bytes that fit in the buffer counted.
    ///@{
    [[nodiscard]] std::size_t recv(void* buffer, std::size_t capacity, std::error_code& ec) noexcept {
        return transfer(buffer, capacity, false, detail::Deadline(), ec);
    }
    [[nodiscard]] std::size_t recv(void* buffer, std::size_t capacity) {
        std::error_code ec;
        std::size_t n = recv(buffer, capacity, ec);
        if (ec) throw_transfer(ec, "recv", n);
        return n;
    }
    [[nodiscard]] std::size_t recv(void* buffer, std::size_t capacity, Timeout timeout, std::error_code& ec) noexcept {
        return transfer(buffer, capacity, false, detail::Deadline(timeout), ec);
    }
    [[nodiscard]] std::size_t recv(void* buffer, std::size_t capacity, Timeout timeout) {
        std::error_code ec;
        std::size_t n = recv(buffer, capacity, timeout, ec);
        if (ec) throw_transfer(ec, "recv", n);
        return n;
    }
    ///@}

    // ---- loops: every byte or an error, with the count that moved --------------------------

    /// Sends all size bytes, finishing partial sends and retrying EINTR. On error, returns (or
    /// reports in TransferError) how many bytes were sent. Never raises SIGPIPE: a vanished
    /// peer is EPIPE / connection reset.
    ///@{
    [[nodiscard]] std::size_t send_all(const void* data, std::size_t size, std::error_code& ec) noexcept {
        long n = plain_call(const_cast<void*>(data), size, true);
        return moved_all(n, size) ? succeeded(size, ec) : send_all_until(data, size, detail::Deadline(), ec, n);
    }
    std::size_t send_all(const void* data, std::size_t size) {
        long n = plain_call(const_cast<void*>(data), size, true);
        return moved_all(n, size) ? size : finish_or_throw(const_cast<void*>(data), size, true, n);
    }
    ///@}
    /// The whole transfer must finish within timeout (not each call).
    ///@{
    [[nodiscard]] std::size_t send_all(const void* data, std::size_t size, Timeout timeout, std::error_code& ec) noexcept {
        return send_all_until(data, size, detail::Deadline(timeout), ec);
    }
    std::size_t send_all(const void* data, std::size_t size, Timeout timeout) {
        std::error_code ec;
        std::size_t n = send_all(data, size, timeout, ec);
        if (ec) throw_transfer(ec, "send_all", n);
        return n;
    }
    ///@}

    /// Receives exactly size bytes. If the peer closes first, the error is errc::end_of_stream
    /// and the bytes that did arrive are at the front of buffer, counted in the result.
    ///@{
    [[nodiscard]] std::size_t recv_exact(void* buffer, std::size_t size, std::error_code& ec) noexcept {
        long n = plain_call(buffer, size, false);
        return moved_all(n, size) ? succeeded(size, ec) : recv_exact_until(buffer, size, detail::Deadline(), ec, n);
    }
    std::size_t recv_exact(void* buffer, std::size_t size) {
        long n = plain_call(buffer, size, false);
        return moved_all(n, size) ? size : finish_or_throw(buffer, size, false, n);
    }
    [[nodiscard]] std::size_t recv_exact(void* buffer, std::size_t size, Timeout timeout, std::error_code& ec) noexcept {
        return recv_exact_until(buffer, size, detail::Deadline(timeout), ec);
    }
    std::size_t recv_exact(void* buffer, std::size_t size, Timeout timeout) {
        std::error_code ec;
        std::size_t n = recv_exact(buffer, size, timeout, ec);
        if (ec) throw_transfer(ec, "recv_exact", n);
        return n;
    }
    ///@}

    // ---- the same calls on byte containers --------------------------------------------------
    /// One rule: every call takes (pointer, size) or a byte container (ConstBuffer /
    /// MutableBuffer convert from std::string, std::string_view, std::vector, std::array of
    /// bytes, and string literals), with or without a Timeout, with or without std::error_code&
    /// last. A receiving container is filled up to its size(): size it first.
    ///@{
    [[nodiscard]] std::size_t send(ConstBuffer b) { return send(b.data, b.size); }
    [[nodiscard]] std::size_t send(ConstBuffer b, std::error_code& ec) noexcept { return send(b.data, b.size, ec); }
    [[nodiscard]] std::size_t send(ConstBuffer b, Timeout t) { return send(b.data, b.size, t); }
    [[nodiscard]] std::size_t send(ConstBuffer b, Timeout t, std::error_code& ec) noexcept { return send(b.data, b.size, t, ec); }

    [[nodiscard]] std::size_t recv(MutableBuffer b) { return recv(b.data, b.size); }
    [[nodiscard]] std::size_t recv(MutableBuffer b, std::error_code& ec) noexcept { return recv(b.data, b.size, ec); }
    [[nodiscard]] std::size_t recv(MutableBuffer b, Timeout t) { return recv(b.data, b.size, t); }
    [[nodiscard]] std::size_t recv(MutableBuffer b, Timeout t, std::error_code& ec) noexcept { return recv(b.data, b.size, t, ec); }

    std::size_t send_all(ConstBuffer b) { return send_all(b.data, b.size); }
    [[nodiscard]] std::size_t send_all(ConstBuffer b, std::error_code& ec) noexcept { return send_all(b.data, b.size, ec); }
    std::size_t send_all(ConstBuffer b, Timeout t) { return send_all(b.data, b.size, t); }
    [[nodiscard]] std::size_t send_all(ConstBuffer b, Timeout t, std::error_code& ec) noexcept { return send_all(b.data, b.size, t, ec); }

    std::size_t recv_exact(MutableBuffer b) { return recv_exact(b.data, b.size); }
    [[nodiscard]] std::size_t recv_exact(MutableBuffer b, std::error_code& ec) noexcept { return recv_exact(b.data, b.size, ec); }
    std::size_t recv_exact(MutableBuffer b, Timeout t) { return recv_exact(b.data, b.size, t); }
    [[nodiscard]] std::size_t recv_exact(MutableBuffer b, Timeout t, std::error_code& ec) noexcept {
        return recv_exact(b.data, b.size, t, ec);
    }
    ///@}

    /// Gather write (named apart from send_all(data, size) so that nullptr is not ambiguous):
    /// all pieces, in order, in as few system calls as the kernel allows (one,
    /// usually). Returns the total sent; partial writes resume mid-piece.
    ///@{
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
    std::size_t send_all(std::initializer_list<ConstBuffer> buffers, Timeout timeout) {
        return send_all_buffers(buffers.begin(), buffers.size(), timeout);
    }
    [[nodiscard]] std::size_t send_all(std::initializer_list<ConstBuffer> buffers, Timeout timeout,
                                       std::error_code& ec) noexcept {
        return send_all_buffers(buffers.begin(), buffers.size(), timeout, ec);
    }
    [[nodiscard]] std::size_t send_all(std::initializer_list<ConstBuffer> buffers, std::error_code& ec) noexcept {
        return send_all_buffers(buffers.begin(), buffers.size(), ec);
    }
    ///@}

    // ---- non-blocking: never wait ----------------------------------------------------------

    /// Switches O_NONBLOCK / FIONBIO: what code using native_handle() sees. The library's own
    /// calls behave the same in both modes: plain calls complete or fail, try_* never wait.
    ///@{
    void set_nonblocking(bool on, std::error_code& ec) noexcept {
        if (check_open(ec) && detail::set_nonblocking(handle_, on) != 0) ec = detail::last_error();
    }
    void set_nonblocking(bool on) {
        std::error_code ec;
        set_nonblocking(on, ec);
        detail::throw_if(ec, "set_nonblocking");
    }
    ///@}

    /// std::nullopt: the call would block. They never wait, in either mode (MSG_DONTWAIT; on
    /// Windows the socket is switched to non-blocking mode for good, see the rule at the top).
    /// try_recv returning 0 means the peer closed.
    ///@{
    [[nodiscard]] std::optional<std::size_t> try_send(const void* data, std::size_t size, std::error_code& ec) noexcept {
        return try_transfer(const_cast<void*>(data), size, true, ec);
    }
    [[nodiscard]] std::optional<std::size_t> try_send(const void* data, std::size_t size) {
        std::error_code ec;
        auto n = try_send(data, size, ec);
        if (ec) throw_transfer(ec, "send", n.value_or(0));
        return n;
    }
    [[nodiscard]] std::optional<std::size_t> try_recv(void* buffer, std::size_t capacity, std::error_code& ec) noexcept {
        return try_transfer(buffer, capacity, false, ec);
    }
    [[nodiscard]] std::optional<std::size_t> try_recv(void* buffer, std::size_t capacity) {
        std::error_code ec;
        auto n = try_recv(buffer, capacity, ec);
        if (ec) throw_transfer(ec, "recv", n.value_or(0));
        return n;
    }
    [[nodiscard]] std::optional<std::size_t> try_send(ConstBuffer b) { return try_send(b.data, b.size); }
    [[nodiscard]] std::optional<std::size_t> try_send(ConstBuffer b, std::error_code& ec) noexcept { return try_send(b.data, b.size, ec); }
    [[nodiscard]] std::optional<std::size_t> try_recv(MutableBuffer b) { return try_recv(b.data, b.size); }
    [[nodiscard]] std::optional<std::size_t> try_recv(MutableBuffer b, std::error_code& ec) noexcept { return try_recv(b.data, b.size, ec); }
    ///@}

    /// std::nullopt: nobody waiting, including a client that reset before we got to it. Leaves
    /// the listener non-blocking (see accept(timeout)): plain accept() still waits.
    ///@{
    [[nodiscard]] std::optional<Socket> try_accept(Address* remote, std::error_code& ec) noexcept {
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
    [[nodiscard]] std::optional<Socket> try_accept(Address* remote = nullptr) {
        std::error_code ec;
        auto s = try_accept(remote, ec);
        if (ec) detail::throw_error(ec, detail::describe("accept on", local_address_or_empty()));
        return s;
    }
    ///@}

    // ---- datagrams -------------------------------------------------------------------------

    /// One datagram to `to`. A datagram is sent whole or not at all (std::errc::message_size when it
    /// cannot be: too large for the protocol or for one Winsock call).
    ///@{
    std::size_t send_to(const Address& to, const void* data, std::size_t size, std::error_code& ec) noexcept {
        return send_to_until(to, data, size, detail::Deadline(), ec);
    }
    std::size_t send_to(const Address& to, const void* data, std::size_t size) {
        std::error_code ec;
        std::size_t n = send_to(to, data, size, ec);
        if (ec) detail::throw_error(ec, detail::describe("send_to", to));
        return n;
    }
    std::size_t send_to(const Address& to, const void* data, std::size_t size, Timeout timeout,
                        std::error_code& ec) noexcept {
        return send_to_until(to, data, size, detail::Deadline(timeout), ec);
    }
    std::size_t send_to(const Address& to, const void* data, std::size_t size, Timeout timeout) {
        std::error_code ec;
        std::size_t n = send_to(to, data, size, timeout, ec);
        if (ec) detail::throw_error(ec, detail::describe("send_to", to));
        return n;
    }
    std::size_t send_to(const Address& to, ConstBuffer b) { return send_to(to, b.data, b.size); }
    std::size_t send_to(const Address& to, ConstBuffer b, std::error_code& ec) noexcept { return send_to(to, b.data, b.size, ec); }
    std::size_t send_to(const Address& to, ConstBuffer b, Timeout t) { return send_to(to, b.data, b.size, t); }
    std::size_t send_to(const Address& to, ConstBuffer b, Timeout t, std::error_code& ec) noexcept {
        return send_to(to, b.data, b.size, t, ec);
    }
    ///@}

    /// One datagram. A datagram larger than capacity is cut and reported (truncated == true):
    /// the rest of it is gone, datagrams are never split.
    ///@{
    [[nodiscard]] Datagram recv_from(void* buffer, std::size_t capacity, std::error_code& ec) noexcept {
        return recv_from_until(buffer, capacity, detail::Deadline(), ec);
    }
    [[nodiscard]] Datagram recv_from(void* buffer, std::size_t capacity) {
        std::error_code ec;
        Datagram d = recv_from(buffer, capacity, ec);
        if (ec) detail::throw_error(ec, describe_connection("recv_from"));
        return d;
    }
    ///@}
    /// Never blocks past the deadline, even when another thread or process takes the datagram
    /// between readiness and the receive (pre-fork servers sharing one socket).
    ///@{
    [[nodiscard]] Datagram recv_from(void* buffer, std::size_t capacity, Timeout timeout, std::error_code& ec) noexcept {
        return recv_from_until(buffer, capacity, detail::Deadline(timeout), ec);
    }
    [[nodiscard]] Datagram recv_from(void* buffer, std::size_t capacity, Timeout timeout) {
        std::error_code ec;
        Datagram d = recv_from(buffer, capacity, timeout, ec);
        if (ec) detail::throw_error(ec, describe_connection("recv_from"));
        return d;
    }
    ///@}
    /// The same recv_from calls on a byte container.
    ///@{
    [[nodiscard]] Datagram recv_from(MutableBuffer b) { return recv_from(b.data, b.size); }
    [[nodiscard]] Datagram recv_from(MutableBuffer b, std::error_code& ec) noexcept { return recv_from(b.data, b.size, ec); }
    [[nodiscard]] Datagram recv_from(MutableBuffer b, Timeout t) { return recv_from(b.data, b.size, t); }
    [[nodiscard]] Datagram recv_from(MutableBuffer b, Timeout t, std::error_code& ec) noexcept { return recv_from(b.data, b.size, t, ec); }
    ///@}

    // ---- addresses -------------------------------------------------------------------------

    /// The local address (getsockname), e.g. to learn the port the OS picked.
    ///@{
    Address local_address(std::error_code& ec) const noexcept { return name_of(false, ec); }
    Address local_address() const {
        std::error_code ec;
        Address a = local_address(ec);
        detail::throw_if(ec, "getsockname");
        return a;
    }
    ///@}
    /// The connected peer's address (getpeername).
    ///@{
    Address peer_address(std::error_code& ec) const noexcept { return name_of(true, ec); }
    Address peer_address() const {
        std::error_code ec;
        Address a = peer_address(ec);
        detail::throw_if(ec, "getpeername");
        return a;
    }
    ///@}

    // ---- typed options ---------------------------------------------------------------------

    /// SO_REUSEADDR: set, and read back.
    ///@{
    void set_reuse_address(bool on, std::error_code& ec) noexcept { set_option(SOL_SOCKET, SO_REUSEADDR, on, ec); }
    void set_reuse_address(bool on) { set_option_or_throw(SOL_SOCKET, SO_REUSEADDR, on, "SO_REUSEADDR"); }
    bool reuse_address() const { return get_option_or_throw(SOL_SOCKET, SO_REUSEADDR, "SO_REUSEADDR") != 0; }
    ///@}

    /// TCP_NODELAY: small writes go out at once (Nagle's algorithm off).
    ///@{
    void set_no_delay(bool on, std::error_code& ec) noexcept { set_option(IPPROTO_TCP, TCP_NODELAY, on, ec); }
    void set_no_delay(bool on) { set_option_or_throw(IPPROTO_TCP, TCP_NODELAY, on, "TCP_NODELAY"); }
    bool no_delay() const { return get_option_or_throw(IPPROTO_TCP, TCP_NODELAY, "TCP_NODELAY") != 0; }
    ///@}

    /// SO_KEEPALIVE: set, and read back.
    ///@{
    void set_keep_alive(bool on, std::error_code& ec) noexcept { set_option(SOL_SOCKET, SO_KEEPALIVE, on, ec); }
    void set_keep_alive(bool on) { set_option_or_throw(SOL_SOCKET, SO_KEEPALIVE, on, "SO_KEEPALIVE"); }
    bool keep_alive() const { return get_option_or_throw(SOL_SOCKET, SO_KEEPALIVE, "SO_KEEPALIVE") != 0; }
    ///@}

    /// Dead-peer detection: first probe after `idle` of silence, then every `interval`, giving
    /// up after `count` unanswered probes. Turns keep-alive on. Whole seconds: the unit the
    /// kernels take (a millisecond duration does not convert, so nothing is silently cut).
    ///@{
    void set_keep_alive(std::chrono::seconds idle, std::chrono::seconds interval, int count, std::error_code& ec) noexcept {
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
    void set_keep_alive(std::chrono::seconds idle, std::chrono::seconds interval, int count) {
        std::error_code ec;
        set_keep_alive(idle, interval, count, ec);
        detail::throw_if(ec, "set keep-alive");
    }
    ///@}

    /// SO_SNDBUF, in bytes (the kernel may adjust the value).
    ///@{
    void set_send_buffer_size(int bytes, std::error_code& ec) noexcept { set_option(SOL_SOCKET, SO_SNDBUF, bytes, ec); }
    void set_send_buffer_size(int bytes) { set_option_or_throw(SOL_SOCKET, SO_SNDBUF, bytes, "SO_SNDBUF"); }
    int send_buffer_size() const { return get_option_or_throw(SOL_SOCKET, SO_SNDBUF, "SO_SNDBUF"); }
    ///@}

    /// SO_RCVBUF, in bytes (the kernel may adjust the value).
    ///@{
    void set_receive_buffer_size(int bytes, std::error_code& ec) noexcept { set_option(SOL_SOCKET, SO_RCVBUF, bytes, ec); }
    void set_receive_buffer_size(int bytes) { set_option_or_throw(SOL_SOCKET, SO_RCVBUF, bytes, "SO_RCVBUF"); }
    int receive_buffer_size() const { return get_option_or_throw(SOL_SOCKET, SO_RCVBUF, "SO_RCVBUF"); }
    ///@}

    /// false: an IPv6 listener also accepts IPv4 clients (seen as \::ffff:a.b.c.d).
    ///@{
    void set_v6_only(bool on, std::error_code& ec) noexcept { set_option(IPPROTO_IPV6, IPV6_V6ONLY, on, ec); }
    void set_v6_only(bool on) { set_option_or_throw(IPPROTO_IPV6, IPV6_V6ONLY, on, "IPV6_V6ONLY"); }
    bool v6_only() const { return get_option_or_throw(IPPROTO_IPV6, IPV6_V6ONLY, "IPV6_V6ONLY") != 0; }
    ///@}

    /// SO_BROADCAST: allows sending to a broadcast address.
    ///@{
    void set_broadcast(bool on, std::error_code& ec) noexcept { set_option(SOL_SOCKET, SO_BROADCAST, on, ec); }
    void set_broadcast(bool on) { set_option_or_throw(SOL_SOCKET, SO_BROADCAST, on, "SO_BROADCAST"); }
    bool broadcast() const { return get_option_or_throw(SOL_SOCKET, SO_BROADCAST, "SO_BROADCAST") != 0; }
    ///@}

    /// SO_LINGER. std::nullopt (the default): close returns at once and the kernel sends what is
    /// queued in the background. A duration: close waits that long for the queue to drain.
    /// Zero seconds: close discards the queue and resets the connection.
    ///@{
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
    ///@}

    /// SO_RCVTIMEO / SO_SNDTIMEO: each blocking call gives up with std::errc::timed_out after this
    /// long; plain calls honour it in either mode, on every platform. Timeout::max() turns it
    /// off; zero or negative means "don't wait" (the OS's smallest timeout). (For a deadline
    /// over a whole transfer use the Timeout arguments instead.)
    ///@{
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
    ///@}

    /// Joins or leaves a multicast group (IPv4 or IPv6) on the interface with this index (see
    /// if_nametoindex), or on the one the routing table picks for index 0. A nonexistent index
    /// is an error, for IPv4 too.
    ///@{
    void join_multicast(const Address& group, unsigned interface_index, std::error_code& ec) noexcept {
        multicast_membership(group, true, interface_index, ec);
    }
    void join_multicast(const Address& group, std::error_code& ec, unsigned interface_index = 0) noexcept {
        multicast_membership(group, true, interface_index, ec);
    }
    void join_multicast(const Address& group, unsigned interface_index = 0) {
        std::error_code ec;
        multicast_membership(group, true, interface_index, ec);
        if (ec) detail::throw_error(ec, multicast_what("join multicast", group, interface_index));
    }
    void leave_multicast(const Address& group, unsigned interface_index, std::error_code& ec) noexcept {
        multicast_membership(group, false, interface_index, ec);
    }
    void leave_multicast(const Address& group, std::error_code& ec, unsigned interface_index = 0) noexcept {
        multicast_membership(group, false, interface_index, ec);
    }
    void leave_multicast(const Address& group, unsigned interface_index = 0) {
        std::error_code ec;
        multicast_membership(group, false, interface_index, ec);
        if (ec) detail::throw_error(ec, multicast_what("leave multicast", group, interface_index));
    }
    ///@}
    /// Whether this socket's own multicast datagrams come back to the host. (On Windows the
    /// option acts on the receiving socket instead of the sending one.)
    ///@{
    void set_multicast_loop(bool on, Family family, std::error_code& ec) noexcept {
        if (family == Family::ipv6)
            set_option(IPPROTO_IPV6, IPV6_MULTICAST_LOOP, on, ec);
        else
            set_option(IPPROTO_IP, IP_MULTICAST_LOOP, on, ec);
    }
    void set_multicast_loop(bool on, Family family = Family::ipv4) {
        std::error_code ec;
        set_multicast_loop(on, family, ec);
        detail::throw_if(ec, family == Family::ipv6 ? "IPV6_MULTICAST_LOOP" : "IP_MULTICAST_LOOP");
    }
    ///@}
    /// How many routers outgoing multicast may cross: 0 = this host only, 1 (the OS default) =
    /// the local network. 0..255; for IPv6, -1 restores the default.
    ///@{
    void set_multicast_ttl(int hops, Family family, std::error_code& ec) noexcept {
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
    void set_multicast_ttl(int hops, Family family = Family::ipv4) {
        std::error_code ec;
        set_multicast_ttl(hops, family, ec);
        detail::throw_if(ec, family == Family::ipv6 ? "IPV6_MULTICAST_HOPS" : "IP_MULTICAST_TTL");
    }
    ///@}
    /// The interface outgoing multicast leaves by (0: the routing table decides).
    ///@{
    void set_multicast_interface(unsigned interface_index, Family family, std::error_code& ec) noexcept {
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
    void set_multicast_interface(unsigned interface_index, Family family = Family::ipv4) {
        std::error_code ec;
        set_multicast_interface(interface_index, family, ec);
        if (ec)
            detail::throw_error(ec, (family == Family::ipv6 ? "IPV6_MULTICAST_IF interface " : "IP_MULTICAST_IF interface ") +
                                        std::to_string(interface_index));
    }
    ///@}

    /// The raw option calls, for anything not wrapped above: any trivially copyable value
    /// (int, \::linger, \::ip_mreqn, \::timeval, ...); bool is passed as the int the OS expects.
    ///@{
    template <class T>
    void set_option(int level, int name, const T& value, std::error_code& ec) noexcept {
        static_assert(std::is_trivially_copyable_v<T>, "socket options are plain bytes");
        if constexpr (std::is_same_v<T, bool>) {
            set_option(level, name, static_cast<int>(value), ec);
        } else {
            set_raw_option(level, name, &value, sizeof value, ec);
        }
    }
    template <class T>
    void set_option(int level, int name, const T& value) {
        std::error_code ec;
        set_option(level, name, value, ec);
        detail::throw_if(ec, "setsockopt");
    }
    template <class T>
    bool get_option(int level, int name, T& value, std::error_code& ec) const noexcept {
        static_assert(std::is_trivially_copyable_v<T> && !std::is_same_v<T, bool>, "read bools as int");
        if (!check_open(ec)) return false;
        detail::socklen len = sizeof value;
        value = T{};
        if (::getsockopt(handle_, level, name, reinterpret_cast<char*>(&value), &len) != 0) {
            ec = detail::last_error();
            return false;
        }
        return true;
    }
    template <class T = int>
    T get_option(int level, int name) const {
        std::error_code ec;
        T value{};
        get_option(level, name, value, ec);
        detail::throw_if(ec, "getsockopt");
        return value;
    }
    ///@}

    /// Options a listening TCP socket wants before bind (listen_on calls this).
    void prepare_listener(const ListenOptions& options, bool ipv6, std::error_code& ec) noexcept {
        if (!check_open(ec)) return;
        if (detail::claim_port(handle_) != 0 ||
            (ipv6 && detail::set_int_option(handle_, IPPROTO_IPV6, IPV6_V6ONLY, options.dual_stack ? 0 : 1) != 0) ||
            (options.reuse_port && detail::share_port(handle_) != 0))
            ec = detail::last_error();
    }

    /// True for a stream socket (SO_TYPE is SOCK_STREAM).
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

    // Stream (byte stream: TCP, Unix stream) or messages (datagram, seqpacket, raw): decides
    // whether a receive can truncate and whether send_all/recv_exact may loop.
    enum class Kind : unsigned char { stream, messages };

    Socket(native_handle_type handle, Kind kind) noexcept : handle_(handle), kind_(kind) {}

    static Kind kind_of(native_handle_type h) noexcept {
        int type = 0;
        detail::socklen len = sizeof type;
        if (h == detail::invalid_handle ||
            ::getsockopt(h, SOL_SOCKET, SO_TYPE, reinterpret_cast<char*>(&type), &len) != 0)
            return Kind::stream;
        return type == SOCK_STREAM ? Kind::stream : Kind::messages;
    }

    // Errors accept(2) says to treat like "try again": network errors already pending on the
    // new connection (Linux passes them through accept), and a client that reset between
    // readiness and accept. None is the listener's fault.
    static bool accept_retryable(int code) noexcept {
#if defined(_WIN32)
        return code == WSAECONNRESET;
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

    // One accept call. On failure returns a closed Socket and the OS code in code.
    Socket accept_once(Address* remote, int& code) noexcept {
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

    Address local_address_or_empty() const noexcept {
        std::error_code ignored;
        return local_address(ignored);
    }

    // "operation with PEER": a server's log needs the peer, also after a reset, when the OS
    // forgets it for getpeername (Linux still tells, see former_peer_name). A socket that has
    // no peer (unconnected datagrams, a listener) or one the OS forgot: "operation on LOCAL".
    std::string describe_connection(const char* operation) const {
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
    friend std::string detail::describe_transfer(const Socket& s, const char* operation);

    [[noreturn]] void throw_transfer(std::error_code ec, const char* operation, std::size_t bytes) const {
        throw TransferError(ec, describe_connection(operation), bytes);
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

    // The bare system call: send (never raising SIGPIPE) or recv, at most max_io bytes. A
    // receive on a message socket goes through recvmsg, the portable way to learn that the
    // datagram did not fit (a plain recv would drop the rest silently).
    long io_call(void* buffer, std::size_t size, bool write, int flags, bool& truncated) noexcept {
        auto chunk = static_cast<detail::io_size>(size < detail::max_io ? size : detail::max_io);
        if (write) return static_cast<long>(::send(handle_, static_cast<const char*>(buffer), chunk, flags));
        if (kind_ == Kind::stream) return static_cast<long>(::recv(handle_, static_cast<char*>(buffer), chunk, flags));
        return detail::recv_datagram(handle_, buffer, size, flags, nullptr, nullptr, truncated);
    }

    // Plain send_all/recv_exact make the system call that transfer would make first (flags:
    // send_flags only) before anything else: when it moves every byte, that is the whole
    // operation. Otherwise its result goes to transfer as `first`, so a short transfer,
    // EINTR, would-block (SO_RCVTIMEO expiry included) or an error is handled exactly as
    // before, without repeating the call. not_tried: transfer must make the call itself (a
    // receive on a message socket needs recvmsg to see truncation; an empty receive makes no
    // call; a Winsock length is an int).
    static constexpr long not_tried = LONG_MIN;
    long plain_call(void* buffer, std::size_t size, bool write) noexcept {
        if (sizeof(detail::io_size) < sizeof(std::size_t) && size > detail::max_io) return not_tried;
        if (write)
            return static_cast<long>(::send(handle_, static_cast<const char*>(buffer),
                                            static_cast<detail::io_size>(size), detail::send_flags));
        if (kind_ != Kind::stream || size == 0) return not_tried;
        return static_cast<long>(::recv(handle_, static_cast<char*>(buffer), static_cast<detail::io_size>(size), 0));
    }
    // -1 and not_tried never equal a size: no buffer spans the whole address space.
    static bool moved_all(long n, std::size_t size) noexcept { return static_cast<std::size_t>(n) == size; }
    static std::size_t succeeded(std::size_t size, std::error_code& ec) noexcept {
        ec.clear();
        return size;
    }
    std::size_t finish_or_throw(void* buffer, std::size_t size, bool write, long first) {
        std::error_code ec;
        std::size_t done = write ? send_all_until(buffer, size, detail::Deadline(), ec, first)
                                 : recv_exact_until(buffer, size, detail::Deadline(), ec, first);
        if (ec) throw_transfer(ec, write ? "send_all" : "recv_exact", done);
        return done;
    }

    // One send or recv call, retried on EINTR, waiting on "would block" (see the rule at the
    // top). Returns the bytes moved; for recv, 0 means the peer closed. first: the result of
    // a call already made (plain_call), whose error is still in last_error_code().
    std::size_t transfer(void* buffer, std::size_t size, bool write, detail::Deadline deadline,
                         std::error_code& ec, long first = not_tried) noexcept {
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

    std::optional<std::size_t> try_transfer(void* buffer, std::size_t size, bool write, std::error_code& ec) noexcept {
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

    // A successful call's count; a truncated datagram is an error that still counts what fit.
    static std::size_t transferred(long n, std::size_t capacity, bool truncated, std::error_code& ec) noexcept {
        if (!truncated) return static_cast<std::size_t>(n);
        ec = errc::datagram_truncated;
        return capacity;
    }

    std::size_t send_all_buffers_until(const ConstBuffer* buffers, std::size_t count,
                                       detail::Deadline deadline, std::error_code& ec) noexcept;

    // send_all and recv_exact on a message socket move exactly one datagram: looping would
    // glue or split messages, so a datagram of another size is an error.
    std::size_t send_all_until(const void* data, std::size_t size, detail::Deadline deadline,
                               std::error_code& ec, long first = not_tried) noexcept {
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

    std::size_t recv_exact_until(void* buffer, std::size_t size, detail::Deadline deadline,
                                 std::error_code& ec, long first = not_tried) noexcept {
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

    // connect(2) on a Unix-domain socket whose listener's backlog is full fails with EAGAIN
    // (non-blocking) and offers no readiness event to wait for: retry with a short backoff.
    static bool backlog_full(int code, const Address& address) noexcept {
        return address.family() == Family::unix_domain && detail::is_would_block(code);
    }

    // A plain connect bounded by SO_SNDTIMEO runs as a timed one: Winsock's blocking connect
    // ignores the option, and on Linux a signal would restart it from zero.
    void connect_until(const Address& address, detail::Deadline deadline, std::error_code& ec) noexcept {
        if (!check_open(ec)) return;
        detail::Retry retry(handle_, true, deadline);
        if (!retry.adopt_socket_timeout(ec)) return;
        deadline = retry.deadline();
        if (deadline.timed() && detail::set_nonblocking(handle_, true) != 0) {
            ec = detail::last_error();
            return;
        }
        bool interrupted = false;
        for (int backoff_ms = 1;; backoff_ms = backoff_ms < 64 ? backoff_ms * 2 : 64) {
            if (::connect(handle_, address.data(), address.size()) == 0) return;
            int code = detail::last_error_code();
            if (detail::is_interrupted(code)) {
                // TCP: the kernel goes on connecting, so wait for the outcome. Unix domain: the
                // connect was waiting for room in the listener's backlog and has not happened
                // (the socket is unconnected, and writable), so make it again; one that did
                // complete before the signal answers "already connected".
                if (address.family() != Family::unix_domain) break;
                interrupted = true;
                continue;
            }
            if (interrupted && detail::is_already_connected(code)) return;
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

    // A plain accept bounded by SO_RCVTIMEO runs as a timed one, for the same reasons.
    Socket accept_until(Address* remote, detail::Deadline deadline, std::error_code& ec) noexcept {
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

    std::size_t send_to_until(const Address& to, const void* data, std::size_t size, detail::Deadline deadline,
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

    Datagram recv_from_until(void* buffer, std::size_t capacity, detail::Deadline deadline,
                             std::error_code& ec) noexcept;

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

    static std::string multicast_what(const char* operation, const Address& group, unsigned interface_index) {
        std::string what = detail::describe(operation, group);
        if (interface_index != 0) what += " on interface " + std::to_string(interface_index);
        return what;
    }

    void multicast_membership(const Address& group, bool join, unsigned interface_index, std::error_code& ec) noexcept {
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

    friend struct detail::Segmentation;

    native_handle_type handle_ = detail::invalid_handle;
    Kind kind_ = Kind::stream;
    // batch.hpp's memory of whether the kernel takes UDP segmentation offload on this socket
    // (0: not asked yet), so a socket that cannot pays no failed system call per batch. Sits
    // in kind_'s padding.
    unsigned char segmentation_ = 0;
};

// ---- free functions: the one-line forms --------------------------------------------------

/// A listening TCP socket bound to address (port 0: the OS picks; read it from local_address()).
/// The port is claimed the way a server wants on each platform (detail::prepare_listener): a
/// restarted server can rebind while old connections sit in TIME_WAIT, and no other program can
/// take the port while it listens. An IPv6 listener takes IPv6 clients only, on every platform
/// (Linux defaults to dual stack, Windows does not): for both families, call set_v6_only(false)
/// on a socket you bind yourself, or listen twice.
///@{
inline Socket listen_on(const Address& address, const ListenOptions& options, std::error_code& ec) {
    Socket s = Socket::open(address.family(), Type::stream, ec);
    if (!ec && address.family() != Family::unix_domain)
        s.prepare_listener(options, address.family() == Family::ipv6, ec);
    if (!ec) s.bind(address, ec);
    if (!ec) s.listen(options.backlog, ec);
    if (ec) s = Socket();
    return s;
}
inline Socket listen_on(const Address& address, const ListenOptions& options) {
    std::error_code ec;
    Socket s = listen_on(address, options, ec);
    if (ec) detail::throw_error(ec, detail::describe("listen on", address));
    return s;
}
inline Socket listen_on(const Address& address, int backlog, std::error_code& ec) {
    ListenOptions options;
    options.backlog = backlog;
    return listen_on(address, options, ec);
}
inline Socket listen_on(const Address& address, std::error_code& ec) { return listen_on(address, SOMAXCONN, ec); }
inline Socket listen_on(const Address& address, int backlog = SOMAXCONN) {
    ListenOptions options;
    options.backlog = backlog;
    return listen_on(address, options);
}
///@}

#if !defined(_WIN32)
/// Two connected sockets (AF_UNIX), e.g. to talk to a child process or between threads.
///@{
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
///@}
#endif

// ---- out-of-line members ----------------------------------------------------------------

inline std::string detail::describe_transfer(const Socket& s, const char* operation) {
    return s.describe_connection(operation);
}

inline std::size_t Socket::send_all_buffers_until(const ConstBuffer* buffers, std::size_t count,
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

inline Datagram Socket::recv_from_until(void* buffer, std::size_t capacity, detail::Deadline deadline,
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

}  // namespace sockets

// connect_to lives in its own header; included last so <sockets/socket.hpp> still offers it.
#include "connect.hpp"
