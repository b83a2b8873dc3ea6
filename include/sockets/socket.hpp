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
#include "config.hpp"
#include "detail/io.hpp"
#include "detail/platform.hpp"
#include "error.hpp"

namespace sockets {
SOCKETS_MODE_NAMESPACE_BEGIN

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

// "operation ADDRESS" for an error message ("connect 127.0.0.1:9"); the operation alone for an
// empty address.
SOCKETS_DECL std::string describe(const char* operation, const Address& address);

// Largest single transfer handed to the OS: Winsock lengths are int.
inline constexpr std::size_t max_io = static_cast<std::size_t>(INT_MAX);

// recv_some reads into a new string of this many bytes at most: a max taken from a peer's
// length field must not allocate (or throw) that much up front, and a receive returns what
// one call gives anyway. 64 KiB holds any UDP datagram (65,507 bytes at most over IPv4).
inline constexpr std::size_t recv_some_max = 65536;
inline std::size_t recv_some_room(std::size_t max) noexcept { return max < recv_some_max ? max : recv_some_max; }

}  // namespace detail

/// How listen_on prepares a listener (C++17: set the fields, or aggregate-initialise).
struct ListenOptions {
    /// The listen() backlog.
    int backlog = SOMAXCONN;
    bool dual_stack = false;  ///< IPv6 address: accept IPv4 clients too (seen as \::ffff:a.b.c.d)
    bool reuse_port = false;  ///< SO_REUSEPORT: several listeners share the port (not on Windows)
};

class Socket;
class Interrupter;

namespace detail {
struct Segmentation;  // batch.hpp: whether send_many may hand the kernel UDP_SEGMENT runs
// What a transfer error on s says: "operation with PEER", or "operation on LOCAL" where there
// is no peer (see Socket::describe_connection). A stream with a socket() (TlsStream): the same;
// any other stream: the operation alone.
SOCKETS_DECL std::string describe_transfer(const Socket& s, const char* operation);
template <class Stream, class = void>
struct HasSocket : std::false_type {};
template <class Stream>
struct HasSocket<Stream, std::void_t<decltype(std::declval<const Stream&>().socket())>> : std::true_type {};
template <class Stream>
std::string describe_transfer(const Stream& s, const char* operation) {
    // A stream over a Socket (TlsStream) names the same peer the Socket would.
    if constexpr (HasSocket<Stream>::value) return describe_transfer(s.socket(), operation);
    else return operation;
}
}  // namespace detail

/// A move-only owner of one native socket handle.
///
/// Every fallible call comes in two forms (error.hpp): with `std::error_code&` last it never
/// throws and clears the code on success; without, it throws std::system_error naming the
/// operation and the address (TransferError, with the bytes that moved, for transfers). Under
/// SOCKETS_NO_EXCEPTIONS only the `std::error_code` forms exist. A call that may wait also
/// comes with a Timeout (before the `std::error_code&`) that bounds the whole call. Calls on a
/// socket that is not open fail with errc::not_open.
class Socket {
public:
    /// The OS handle type: int on POSIX, SOCKET on Windows.
    using native_handle_type = sockets::native_handle_type;

    // ==== Lifetime =============================================================================
    // Open, adopt, move, give up, close. Closing is the destructor's job; close() and
    // graceful_close() are for when the outcome matters.

    /// Not open. Every operation on it fails with errc::not_open.
    Socket() noexcept = default;
    /// Adopts a handle (e.g. from a C API); the Socket now closes it. Asks the OS once whether
    /// it is a stream or a message (datagram) socket.
    explicit Socket(native_handle_type handle) noexcept;
    /// Takes over other's handle (closing this socket's own first); other is left not open.
    ///@{
    Socket(Socket&& other) noexcept;
    Socket& operator=(Socket&& other) noexcept;
    ///@}
    Socket(const Socket&) = delete;
    Socket& operator=(const Socket&) = delete;
    /// Closes without reporting: a destructor cannot throw. Call close() to see the error.
    ~Socket();

    /// A new socket of this family and type.
    ///@{
    [[nodiscard]] static Socket open(Family family, Type type, std::error_code& ec) noexcept;
#if !defined(SOCKETS_NO_EXCEPTIONS)
    [[nodiscard]] static Socket open(Family family, Type type);
#endif
    ///@}
    /// A new TCP socket. No `std::error_code` form (use open): a failure goes through
    /// sockets::throw_exception.
    [[nodiscard]] static Socket tcp(Family family = Family::ipv4);
    /// A new UDP socket; failure as for tcp().
    [[nodiscard]] static Socket udp(Family family = Family::ipv4);

    /// The OS handle, still owned (and closed) by this Socket.
    native_handle_type native_handle() const noexcept;
    /// True unless closed, moved from, released or never opened.
    ///@{
    bool is_open() const noexcept;
    explicit operator bool() const noexcept;
    ///@}
    /// Gives up ownership: the caller must close the returned handle.
    [[nodiscard]] native_handle_type release() noexcept;

    /// Closes now and reports the OS's error. The socket is closed afterwards either way. On a
    /// socket that is not open (closed, moved from) it does nothing and is no error.
    ///@{
    void close(std::error_code& ec) noexcept;
#if !defined(SOCKETS_NO_EXCEPTIONS)
    void close();
#endif
    ///@}

    /// Stops sending (the peer's recv then returns 0), receiving, or both. The socket stays open.
    ///@{
    void shutdown(Shutdown how, std::error_code& ec) noexcept;
#if !defined(SOCKETS_NO_EXCEPTIONS)
    void shutdown(Shutdown how);
#endif
    ///@}

    /// The polite close the HOWTO asks for: stop sending, read (and discard) until the peer
    /// closes too or timeout passes, then close. The last bytes sent are not lost to a reset
    /// caused by unread data. How it ended is a result, not an error: the socket is closed in
    /// every case. Only a socket that was not open, or a failing close(), is an error. After
    /// your own shutdown(Shutdown::read) the OS reports end-of-stream at once, so the wait
    /// for the peer cannot happen: it ends as peer_closed.
    ///@{
    CloseResult graceful_close(Timeout timeout, std::error_code& ec) noexcept;
#if !defined(SOCKETS_NO_EXCEPTIONS)
    CloseResult graceful_close(Timeout timeout);
#endif
    ///@}

    /// graceful_close without waiting, for event loops: each call stops sending (again: a
    /// repeat is harmless) and reads and discards what has arrived. std::nullopt with ec clear:
    /// the peer has not closed yet; wait until readable and call again, or call close() when
    /// your deadline passes (the timed_out ending). Otherwise the socket is closed and the
    /// result tells how it ended (discarded counts this call's bytes). A socket that was not
    /// open, or a failing close(), is an error (ec set).
    ///@{
    std::optional<CloseResult> try_graceful_close(std::error_code& ec) noexcept;
#if !defined(SOCKETS_NO_EXCEPTIONS)
    std::optional<CloseResult> try_graceful_close();
#endif
    ///@}

    // ==== Connecting ===========================================================================
    // Client side (connect), server side (bind, listen, accept), and the two ends' addresses.
    // Plain calls wait as a blocking socket would (SO_SNDTIMEO / SO_RCVTIMEO bound them); a
    // Timeout leaves the socket in non-blocking mode, since POSIX has no per-call flag for
    // connect and accept (every call of this library behaves the same in both modes).

    /// Binds to a local address (port 0: the OS picks one).
    ///@{
    void bind(const Address& address, std::error_code& ec) noexcept;
#if !defined(SOCKETS_NO_EXCEPTIONS)
    void bind(const Address& address);
#endif
    ///@}

    /// Starts listening, with this backlog (SOMAXCONN unless given).
    ///@{
    void listen(int backlog, std::error_code& ec) noexcept;
    void listen(std::error_code& ec) noexcept;
#if !defined(SOCKETS_NO_EXCEPTIONS)
    void listen(int backlog = SOMAXCONN);
#endif
    ///@}

    /// Blocking connect. A signal landing mid-connect does not surface as EINTR: on TCP the
    /// kernel goes on connecting, so we wait for the outcome and read it from SO_ERROR; on a
    /// Unix-domain socket (waiting for room in a full backlog) nothing happened yet, so the
    /// connect is made again. Either way it returns only once connected, or with the error.
    /// SO_SNDTIMEO bounds it (std::errc::timed_out), as the kernel does for a blocking socket.
    ///@{
    void connect(const Address& address, std::error_code& ec) noexcept;
#if !defined(SOCKETS_NO_EXCEPTIONS)
    void connect(const Address& address);
#endif
    ///@}

    /// Connect giving up after timeout (std::errc::timed_out). The socket is left in
    /// non-blocking mode (call set_nonblocking(false) before handing native_handle() to code
    /// that expects blocking mode). After a timeout the attempt may still be pending in the
    /// kernel: close the socket. A Unix-domain listener with a full backlog is retried until the
    /// deadline.
    ///@{
    void connect(const Address& address, Timeout timeout, std::error_code& ec) noexcept;
#if !defined(SOCKETS_NO_EXCEPTIONS)
    void connect(const Address& address, Timeout timeout);
#endif
    ///@}

    /// Non-blocking connect, first half: returns true if already connected, false if the
    /// connection is under way (wait until writable, e.g. with a Poller, then finish_connect).
    ///@{
    bool start_connect(const Address& address, std::error_code& ec) noexcept;
#if !defined(SOCKETS_NO_EXCEPTIONS)
    bool start_connect(const Address& address);
#endif
    ///@}

    /// Second half: the outcome of the connection attempt (SO_ERROR), once the socket is writable.
    ///@{
    void finish_connect(std::error_code& ec) noexcept;
#if !defined(SOCKETS_NO_EXCEPTIONS)
    void finish_connect();
#endif
    ///@}

    /// Waits for a client and returns its connected socket; remote receives its address.
    ///@{
    [[nodiscard]] Socket accept(Address& remote, std::error_code& ec) noexcept;
    [[nodiscard]] Socket accept(std::error_code& ec) noexcept;
#if !defined(SOCKETS_NO_EXCEPTIONS)
    [[nodiscard]] Socket accept(Address& remote);
    [[nodiscard]] Socket accept();
#endif
    ///@}

    /// Waits at most timeout for a client. The listener is switched to non-blocking mode once and
    /// left so (restoring it would race with other threads or forked workers sharing the
    /// listener); plain accept() still waits. A client that resets between readiness and
    /// accept, or a sibling process that takes the connection first, never turns this into a
    /// wait past the deadline.
    ///@{
    [[nodiscard]] Socket accept(Address& remote, Timeout timeout, std::error_code& ec) noexcept;
    [[nodiscard]] Socket accept(Timeout timeout, std::error_code& ec) noexcept;
#if !defined(SOCKETS_NO_EXCEPTIONS)
    [[nodiscard]] Socket accept(Address& remote, Timeout timeout);
    [[nodiscard]] Socket accept(Timeout timeout);
#endif
    ///@}

    /// std::nullopt: nobody waiting, including a client that reset before we got to it. Leaves
    /// the listener non-blocking (see accept(timeout)): plain accept() still waits.
    ///@{
    [[nodiscard]] std::optional<Socket> try_accept(Address* remote, std::error_code& ec) noexcept;
#if !defined(SOCKETS_NO_EXCEPTIONS)
    [[nodiscard]] std::optional<Socket> try_accept(Address* remote = nullptr);
#endif
    ///@}

    /// accept that another thread can stop: stop.interrupt() ends it with errc::cancelled
    /// (equal to std::errc::operation_canceled), as it does every later call given stop until
    /// stop.reset(). The wait is a poll on the listener and stop's handle, so nothing is closed
    /// under the waiting thread (the listener stays open and usable). Leaves the listener
    /// non-blocking, as accept(timeout) does; without a Timeout, SO_RCVTIMEO bounds it if set.
    ///@{
    [[nodiscard]] Socket accept(const Interrupter& stop, std::error_code& ec) noexcept;
    [[nodiscard]] Socket accept(const Interrupter& stop, Timeout timeout, std::error_code& ec) noexcept;
#if !defined(SOCKETS_NO_EXCEPTIONS)
    [[nodiscard]] Socket accept(const Interrupter& stop, Timeout timeout = Timeout::max());
#endif
    ///@}

    /// The local address (getsockname), e.g. to learn the port the OS picked.
    ///@{
    Address local_address(std::error_code& ec) const noexcept;
#if !defined(SOCKETS_NO_EXCEPTIONS)
    Address local_address() const;
#endif
    ///@}
    /// The connected peer's address (getpeername).
    ///@{
    Address peer_address(std::error_code& ec) const noexcept;
#if !defined(SOCKETS_NO_EXCEPTIONS)
    Address peer_address() const;
#endif
    ///@}

    // ==== Transfers ============================================================================
    // Every call takes (pointer, size) or a byte container (ConstBuffer / MutableBuffer convert
    // from std::string, std::string_view, std::vector, std::array of bytes, and string
    // literals); a receiving container is filled up to its size(): size it first. send and
    // recv make one call and may move fewer bytes than asked; send_all and recv_exact move
    // every byte or fail with the count that moved (in the result, or TransferError). A
    // Timeout bounds the whole transfer, not each system call; try_ calls never wait.

    /// Sends what the kernel takes in one call (at least one byte unless size is 0).
    ///@{
    [[nodiscard]] std::size_t send(const void* data, std::size_t size, std::error_code& ec) noexcept;
    [[nodiscard]] std::size_t send(const void* data, std::size_t size, Timeout timeout, std::error_code& ec) noexcept;
    [[nodiscard]] std::size_t send(ConstBuffer b, std::error_code& ec) noexcept;
    [[nodiscard]] std::size_t send(ConstBuffer b, Timeout t, std::error_code& ec) noexcept;
#if !defined(SOCKETS_NO_EXCEPTIONS)
    [[nodiscard]] std::size_t send(const void* data, std::size_t size);
    [[nodiscard]] std::size_t send(const void* data, std::size_t size, Timeout timeout);
    [[nodiscard]] std::size_t send(ConstBuffer b);
    [[nodiscard]] std::size_t send(ConstBuffer b, Timeout t);
#endif
    ///@}

    /// Receives what is there in one call, at most capacity bytes. 0 means the peer closed (or
    /// capacity was 0: that returns at once, without a system call). On a datagram socket one
    /// call is one datagram; one larger than capacity is errc::datagram_truncated, with the
    /// bytes that fit in the buffer counted.
    ///@{
    [[nodiscard]] std::size_t recv(void* buffer, std::size_t capacity, std::error_code& ec) noexcept;
    [[nodiscard]] std::size_t recv(void* buffer, std::size_t capacity, Timeout timeout, std::error_code& ec) noexcept;
    [[nodiscard]] std::size_t recv(MutableBuffer b, std::error_code& ec) noexcept;
    [[nodiscard]] std::size_t recv(MutableBuffer b, Timeout t, std::error_code& ec) noexcept;
#if !defined(SOCKETS_NO_EXCEPTIONS)
    [[nodiscard]] std::size_t recv(void* buffer, std::size_t capacity);
    [[nodiscard]] std::size_t recv(void* buffer, std::size_t capacity, Timeout timeout);
    [[nodiscard]] std::size_t recv(MutableBuffer b);
    [[nodiscard]] std::size_t recv(MutableBuffer b, Timeout t);
#endif
    ///@}

    /// Into a byte container, filled up to its size(). An empty one (size() 0, whatever its
    /// capacity(), which the call never writes into) is errc::empty_buffer, never 0: 0 means
    /// "the peer closed", and `std::string reply; while (s.recv(reply)) ...` would end at once
    /// with data waiting. Size it first, or call recv_some. (A (pointer, 0) receive is left
    /// as the OS does it: 0 at once.)
    ///@{
    template <class Bytes, class = detail::if_writable_byte_range<Bytes>>
    [[nodiscard]] std::size_t recv(Bytes& bytes, std::error_code& ec) noexcept {
        return bytes.size() != 0 ? recv(bytes.data(), bytes.size(), ec) : refuse_empty(ec);
    }
    template <class Bytes, class = detail::if_writable_byte_range<Bytes>>
    [[nodiscard]] std::size_t recv(Bytes& bytes, Timeout timeout, std::error_code& ec) noexcept {
        return bytes.size() != 0 ? recv(bytes.data(), bytes.size(), timeout, ec) : refuse_empty(ec);
    }
#if !defined(SOCKETS_NO_EXCEPTIONS)
    template <class Bytes, class = detail::if_writable_byte_range<Bytes>>
    [[nodiscard]] std::size_t recv(Bytes& bytes) {
        if (bytes.size() == 0) throw_transfer(empty_error(), "recv", 0);
        return recv(bytes.data(), bytes.size());
    }
    template <class Bytes, class = detail::if_writable_byte_range<Bytes>>
    [[nodiscard]] std::size_t recv(Bytes& bytes, Timeout timeout) {
        if (bytes.size() == 0) throw_transfer(empty_error(), "recv", 0);
        return recv(bytes.data(), bytes.size(), timeout);
    }
#endif
    ///@}

    /// recv that another thread can stop: stop.interrupt() ends it with errc::cancelled, as
    /// accept(stop) (the socket stays open; what arrives later stays queued for the next
    /// call). The wait is a poll on the socket and stop's handle, then a receive that cannot
    /// block. An empty buffer is errc::empty_buffer.
    ///@{
    [[nodiscard]] std::size_t recv(MutableBuffer b, const Interrupter& stop, std::error_code& ec) noexcept;
    [[nodiscard]] std::size_t recv(MutableBuffer b, const Interrupter& stop, Timeout timeout,
                                   std::error_code& ec) noexcept;
#if !defined(SOCKETS_NO_EXCEPTIONS)
    [[nodiscard]] std::size_t recv(MutableBuffer b, const Interrupter& stop, Timeout timeout = Timeout::max());
#endif
    ///@}

    /// Python's `recv(max)`: what is there, at most max bytes, in a new string; an empty string
    /// means the peer closed. One system call, as recv (a datagram larger than max is
    /// errc::datagram_truncated, with what fit). max 0 is errc::empty_buffer. At most 64 KiB
    /// per call whatever max says (any UDP datagram fits): a max taken from a peer's length
    /// field never allocates that much up front; loop, or recv_exact, for more.
    ///@{
    [[nodiscard]] std::string recv_some(std::size_t max, std::error_code& ec);
    [[nodiscard]] std::string recv_some(std::size_t max, Timeout timeout, std::error_code& ec);
#if !defined(SOCKETS_NO_EXCEPTIONS)
    [[nodiscard]] std::string recv_some(std::size_t max);
    [[nodiscard]] std::string recv_some(std::size_t max, Timeout timeout);
#endif
    ///@}
    /// recv_some that another thread can stop, as recv(b, stop).
    ///@{
    [[nodiscard]] std::string recv_some(std::size_t max, const Interrupter& stop, std::error_code& ec);
    [[nodiscard]] std::string recv_some(std::size_t max, const Interrupter& stop, Timeout timeout,
                                        std::error_code& ec);
#if !defined(SOCKETS_NO_EXCEPTIONS)
    [[nodiscard]] std::string recv_some(std::size_t max, const Interrupter& stop, Timeout timeout = Timeout::max());
#endif
    ///@}

    /// Sends all size bytes, finishing partial sends and retrying EINTR. Never raises SIGPIPE:
    /// a vanished peer is EPIPE / connection reset.
    ///@{
    std::size_t send_all(const void* data, std::size_t size, std::error_code& ec) noexcept;
    std::size_t send_all(const void* data, std::size_t size, Timeout timeout, std::error_code& ec) noexcept;
    std::size_t send_all(ConstBuffer b, std::error_code& ec) noexcept;
    std::size_t send_all(ConstBuffer b, Timeout t, std::error_code& ec) noexcept;
#if !defined(SOCKETS_NO_EXCEPTIONS)
    std::size_t send_all(const void* data, std::size_t size);
    std::size_t send_all(const void* data, std::size_t size, Timeout timeout);
    std::size_t send_all(ConstBuffer b);
    std::size_t send_all(ConstBuffer b, Timeout t);
#endif
    ///@}

    /// Receives exactly size bytes. If the peer closes first, the error is errc::end_of_stream
    /// and the bytes that did arrive are at the front of buffer, counted in the result.
    ///@{
    std::size_t recv_exact(void* buffer, std::size_t size, std::error_code& ec) noexcept;
    std::size_t recv_exact(void* buffer, std::size_t size, Timeout timeout, std::error_code& ec) noexcept;
    std::size_t recv_exact(MutableBuffer b, std::error_code& ec) noexcept;
    std::size_t recv_exact(MutableBuffer b, Timeout t, std::error_code& ec) noexcept;
#if !defined(SOCKETS_NO_EXCEPTIONS)
    std::size_t recv_exact(void* buffer, std::size_t size);
    std::size_t recv_exact(void* buffer, std::size_t size, Timeout timeout);
    std::size_t recv_exact(MutableBuffer b);
    std::size_t recv_exact(MutableBuffer b, Timeout t);
#endif
    ///@}

    /// Gather write (named apart from send_all(data, size) so that nullptr is not ambiguous):
    /// all pieces, in order, in as few system calls as the kernel allows (one, usually).
    /// Returns the total sent; partial writes resume mid-piece.
    ///@{
    std::size_t send_all_buffers(const ConstBuffer* buffers, std::size_t count, std::error_code& ec) noexcept;
    std::size_t send_all_buffers(const ConstBuffer* buffers, std::size_t count, Timeout timeout,
                                 std::error_code& ec) noexcept;
    std::size_t send_all(std::initializer_list<ConstBuffer> buffers, std::error_code& ec) noexcept;
    std::size_t send_all(std::initializer_list<ConstBuffer> buffers, Timeout timeout,
                                       std::error_code& ec) noexcept;
#if !defined(SOCKETS_NO_EXCEPTIONS)
    std::size_t send_all_buffers(const ConstBuffer* buffers, std::size_t count);
    std::size_t send_all_buffers(const ConstBuffer* buffers, std::size_t count, Timeout timeout);
    std::size_t send_all(std::initializer_list<ConstBuffer> buffers);
    std::size_t send_all(std::initializer_list<ConstBuffer> buffers, Timeout timeout);
#endif
    ///@}

    /// Never wait, in either mode (MSG_DONTWAIT; on Windows the socket is switched to
    /// non-blocking mode for good): std::nullopt means the call would block. try_recv
    /// returning 0 means the peer closed.
    ///@{
    [[nodiscard]] std::optional<std::size_t> try_send(const void* data, std::size_t size, std::error_code& ec) noexcept;
    [[nodiscard]] std::optional<std::size_t> try_recv(void* buffer, std::size_t capacity, std::error_code& ec) noexcept;
    [[nodiscard]] std::optional<std::size_t> try_send(ConstBuffer b, std::error_code& ec) noexcept;
    [[nodiscard]] std::optional<std::size_t> try_recv(MutableBuffer b, std::error_code& ec) noexcept;
#if !defined(SOCKETS_NO_EXCEPTIONS)
    [[nodiscard]] std::optional<std::size_t> try_send(const void* data, std::size_t size);
    [[nodiscard]] std::optional<std::size_t> try_recv(void* buffer, std::size_t capacity);
    [[nodiscard]] std::optional<std::size_t> try_send(ConstBuffer b);
    [[nodiscard]] std::optional<std::size_t> try_recv(MutableBuffer b);
#endif
    ///@}
    /// try_recv into a byte container: an empty one is errc::empty_buffer, as for recv.
    ///@{
    template <class Bytes, class = detail::if_writable_byte_range<Bytes>>
    [[nodiscard]] std::optional<std::size_t> try_recv(Bytes& bytes, std::error_code& ec) noexcept {
        if (bytes.size() != 0) return try_recv(bytes.data(), bytes.size(), ec);
        refuse_empty(ec);
        return std::nullopt;
    }
#if !defined(SOCKETS_NO_EXCEPTIONS)
    template <class Bytes, class = detail::if_writable_byte_range<Bytes>>
    [[nodiscard]] std::optional<std::size_t> try_recv(Bytes& bytes) {
        if (bytes.size() == 0) throw_transfer(empty_error(), "recv", 0);
        return try_recv(bytes.data(), bytes.size());
    }
#endif
    ///@}

    // ==== Datagrams ============================================================================
    // One call is one datagram, sent whole or not at all, never split or glued on receipt.

    /// One datagram to `to`. A datagram that cannot go whole (too large for the protocol or
    /// for one Winsock call) is std::errc::message_size.
    ///@{
    std::size_t send_to(const Address& to, const void* data, std::size_t size, std::error_code& ec) noexcept;
    std::size_t send_to(const Address& to, const void* data, std::size_t size, Timeout timeout,
                        std::error_code& ec) noexcept;
    std::size_t send_to(const Address& to, ConstBuffer b, std::error_code& ec) noexcept;
    std::size_t send_to(const Address& to, ConstBuffer b, Timeout t, std::error_code& ec) noexcept;
#if !defined(SOCKETS_NO_EXCEPTIONS)
    std::size_t send_to(const Address& to, const void* data, std::size_t size);
    std::size_t send_to(const Address& to, const void* data, std::size_t size, Timeout timeout);
    std::size_t send_to(const Address& to, ConstBuffer b);
    std::size_t send_to(const Address& to, ConstBuffer b, Timeout t);
#endif
    ///@}

    /// One datagram and its sender. One larger than capacity is cut and reported
    /// (truncated == true): the rest of it is gone. With a Timeout it never blocks past the
    /// deadline, even when another thread or process takes the datagram between readiness and
    /// the receive (pre-fork servers sharing one socket).
    ///@{
    [[nodiscard]] Datagram recv_from(void* buffer, std::size_t capacity, std::error_code& ec) noexcept;
    [[nodiscard]] Datagram recv_from(void* buffer, std::size_t capacity, Timeout timeout, std::error_code& ec) noexcept;
    [[nodiscard]] Datagram recv_from(MutableBuffer b, std::error_code& ec) noexcept;
    [[nodiscard]] Datagram recv_from(MutableBuffer b, Timeout t, std::error_code& ec) noexcept;
#if !defined(SOCKETS_NO_EXCEPTIONS)
    [[nodiscard]] Datagram recv_from(void* buffer, std::size_t capacity);
    [[nodiscard]] Datagram recv_from(void* buffer, std::size_t capacity, Timeout timeout);
    [[nodiscard]] Datagram recv_from(MutableBuffer b);
    [[nodiscard]] Datagram recv_from(MutableBuffer b, Timeout t);
#endif
    ///@}
    /// recv_from into a byte container: an empty one is errc::empty_buffer, as for recv (every
    /// datagram would arrive truncated to nothing).
    ///@{
    template <class Bytes, class = detail::if_writable_byte_range<Bytes>>
    [[nodiscard]] Datagram recv_from(Bytes& bytes, std::error_code& ec) noexcept {
        if (bytes.size() != 0) return recv_from(bytes.data(), bytes.size(), ec);
        refuse_empty(ec);
        return {};
    }
    template <class Bytes, class = detail::if_writable_byte_range<Bytes>>
    [[nodiscard]] Datagram recv_from(Bytes& bytes, Timeout timeout, std::error_code& ec) noexcept {
        if (bytes.size() != 0) return recv_from(bytes.data(), bytes.size(), timeout, ec);
        refuse_empty(ec);
        return {};
    }
#if !defined(SOCKETS_NO_EXCEPTIONS)
    template <class Bytes, class = detail::if_writable_byte_range<Bytes>>
    [[nodiscard]] Datagram recv_from(Bytes& bytes) {
        if (bytes.size() == 0) throw_transfer(empty_error(), "recv_from", 0);
        return recv_from(bytes.data(), bytes.size());
    }
    template <class Bytes, class = detail::if_writable_byte_range<Bytes>>
    [[nodiscard]] Datagram recv_from(Bytes& bytes, Timeout timeout) {
        if (bytes.size() == 0) throw_transfer(empty_error(), "recv_from", 0);
        return recv_from(bytes.data(), bytes.size(), timeout);
    }
#endif
    ///@}

    // ==== Options ==============================================================================
    // Typed setters (both forms) and getters. A getter has no std::error_code form (read the
    // raw option with get_option for that): its failure goes through sockets::throw_exception.
    // They stay members (unlike Asio's option objects): one object, one place to look, and
    // `s.set_no_delay(true)` is what a reader of socket code expects to find.

    /// Switches O_NONBLOCK / FIONBIO: what code using native_handle() sees. The library's own
    /// calls behave the same in both modes: plain calls complete or fail, try_* never wait.
    ///@{
    void set_nonblocking(bool on, std::error_code& ec) noexcept;
#if !defined(SOCKETS_NO_EXCEPTIONS)
    void set_nonblocking(bool on);
#endif
    ///@}

    /// SO_REUSEADDR: set, and read back.
    ///@{
    void set_reuse_address(bool on, std::error_code& ec) noexcept;
#if !defined(SOCKETS_NO_EXCEPTIONS)
    void set_reuse_address(bool on);
#endif
    bool reuse_address() const;
    ///@}

    /// TCP_NODELAY: small writes go out at once (Nagle's algorithm off).
    ///@{
    void set_no_delay(bool on, std::error_code& ec) noexcept;
#if !defined(SOCKETS_NO_EXCEPTIONS)
    void set_no_delay(bool on);
#endif
    bool no_delay() const;
    ///@}

    /// SO_KEEPALIVE: set, and read back.
    ///@{
    void set_keep_alive(bool on, std::error_code& ec) noexcept;
#if !defined(SOCKETS_NO_EXCEPTIONS)
    void set_keep_alive(bool on);
#endif
    bool keep_alive() const;
    ///@}

    /// Dead-peer detection: first probe after `idle` of silence, then every `interval`, giving
    /// up after `count` unanswered probes. Turns keep-alive on. Whole seconds: the unit the
    /// kernels take (a millisecond duration does not convert, so nothing is silently cut).
    ///@{
    void set_keep_alive(std::chrono::seconds idle, std::chrono::seconds interval, int count, std::error_code& ec) noexcept;
#if !defined(SOCKETS_NO_EXCEPTIONS)
    void set_keep_alive(std::chrono::seconds idle, std::chrono::seconds interval, int count);
#endif
    ///@}

    /// SO_SNDBUF, in bytes (the kernel may adjust the value).
    ///@{
    void set_send_buffer_size(int bytes, std::error_code& ec) noexcept;
#if !defined(SOCKETS_NO_EXCEPTIONS)
    void set_send_buffer_size(int bytes);
#endif
    int send_buffer_size() const;
    ///@}

    /// SO_RCVBUF, in bytes (the kernel may adjust the value).
    ///@{
    void set_receive_buffer_size(int bytes, std::error_code& ec) noexcept;
#if !defined(SOCKETS_NO_EXCEPTIONS)
    void set_receive_buffer_size(int bytes);
#endif
    int receive_buffer_size() const;
    ///@}

    /// false: an IPv6 listener also accepts IPv4 clients (seen as \::ffff:a.b.c.d).
    ///@{
    void set_v6_only(bool on, std::error_code& ec) noexcept;
#if !defined(SOCKETS_NO_EXCEPTIONS)
    void set_v6_only(bool on);
#endif
    bool v6_only() const;
    ///@}

    /// SO_BROADCAST: allows sending to a broadcast address.
    ///@{
    void set_broadcast(bool on, std::error_code& ec) noexcept;
#if !defined(SOCKETS_NO_EXCEPTIONS)
    void set_broadcast(bool on);
#endif
    bool broadcast() const;
    ///@}

    /// SO_LINGER. std::nullopt (the default): close returns at once and the kernel sends what is
    /// queued in the background. A duration: close waits that long for the queue to drain.
    /// Zero seconds: close discards the queue and resets the connection.
    ///@{
    void set_linger(std::optional<std::chrono::seconds> linger, std::error_code& ec) noexcept;
#if !defined(SOCKETS_NO_EXCEPTIONS)
    void set_linger(std::optional<std::chrono::seconds> linger);
#endif
    ///@}

    /// SO_RCVTIMEO / SO_SNDTIMEO: each blocking call gives up with std::errc::timed_out after this
    /// long; plain calls honour it in either mode, on every platform. Timeout::max() turns it
    /// off; zero or negative means "don't wait" (the OS's smallest timeout). (For a deadline
    /// over a whole transfer use the Timeout arguments instead.)
    ///@{
    void set_receive_timeout(Timeout timeout, std::error_code& ec) noexcept;
    void set_send_timeout(Timeout timeout, std::error_code& ec) noexcept;
#if !defined(SOCKETS_NO_EXCEPTIONS)
    void set_receive_timeout(Timeout timeout);
    void set_send_timeout(Timeout timeout);
#endif
    ///@}

    /// The raw option calls, for anything not wrapped above: any trivially copyable value
    /// (int, \::linger, \::ip_mreqn, \::timeval, ...); bool is passed as the int the OS expects.
    ///@{
    template <class T>
    void set_option(int level, int name, const T& value, std::error_code& ec) noexcept;
    template <class T>
    bool get_option(int level, int name, T& value, std::error_code& ec) const noexcept;
#if !defined(SOCKETS_NO_EXCEPTIONS)
    template <class T>
    void set_option(int level, int name, const T& value);
    template <class T = int>
    T get_option(int level, int name) const;
#endif
    ///@}

    /// Options a listening TCP socket wants before bind (listen_on calls this).
    void prepare_listener(const ListenOptions& options, bool ipv6, std::error_code& ec) noexcept;

    /// True for a stream socket (SO_TYPE is SOCK_STREAM).
    bool is_stream(std::error_code& ec) const noexcept;

    // ==== Multicast ============================================================================
    // Options too (setsockopt), so they stay with the others. `interface_index` is an index as
    // if_nametoindex returns it; 0 lets the routing table pick.

    /// Joins or leaves a multicast group (IPv4 or IPv6) on that interface. A nonexistent index
    /// is an error, for IPv4 too.
    ///@{
    void join_multicast(const Address& group, unsigned interface_index, std::error_code& ec) noexcept;
    void join_multicast(const Address& group, std::error_code& ec, unsigned interface_index = 0) noexcept;
    void leave_multicast(const Address& group, unsigned interface_index, std::error_code& ec) noexcept;
    void leave_multicast(const Address& group, std::error_code& ec, unsigned interface_index = 0) noexcept;
#if !defined(SOCKETS_NO_EXCEPTIONS)
    void join_multicast(const Address& group, unsigned interface_index = 0);
    void leave_multicast(const Address& group, unsigned interface_index = 0);
#endif
    ///@}

    /// Whether this socket's own multicast datagrams come back to the host. (On Windows the
    /// option acts on the receiving socket instead of the sending one.)
    ///@{
    void set_multicast_loop(bool on, Family family, std::error_code& ec) noexcept;
#if !defined(SOCKETS_NO_EXCEPTIONS)
    void set_multicast_loop(bool on, Family family = Family::ipv4);
#endif
    ///@}

    /// How many routers outgoing multicast may cross: 0 = this host only, 1 (the OS default) =
    /// the local network. 0..255; for IPv6, -1 restores the default.
    ///@{
    void set_multicast_ttl(int hops, Family family, std::error_code& ec) noexcept;
#if !defined(SOCKETS_NO_EXCEPTIONS)
    void set_multicast_ttl(int hops, Family family = Family::ipv4);
#endif
    ///@}

    /// The interface outgoing multicast leaves by (0: the routing table decides).
    ///@{
    void set_multicast_interface(unsigned interface_index, Family family, std::error_code& ec) noexcept;
#if !defined(SOCKETS_NO_EXCEPTIONS)
    void set_multicast_interface(unsigned interface_index, Family family = Family::ipv4);
#endif
    ///@}

private:
    bool check_open(std::error_code& ec) const noexcept;
    // A receive into an empty container: an error, never a 0 that reads as "peer closed". A
    // socket that is not open says so first, as every call on it does.
    std::error_code empty_error() const noexcept {
        return is_open() ? make_error_code(errc::empty_buffer) : make_error_code(errc::not_open);
    }
    std::size_t refuse_empty(std::error_code& ec) const noexcept {
        ec = empty_error();
        return 0;
    }
    std::string recv_some_until(std::size_t max, detail::Deadline deadline, std::error_code& ec);
    // The calls that take an Interrupter: try the non-waiting call, then wait on the socket and
    // the interrupter together (detail::wait_or_cancel), until one of them is ready.
    Socket accept_cancellable(const Interrupter& stop, detail::Deadline deadline, std::error_code& ec) noexcept;
    std::size_t recv_cancellable(MutableBuffer b, const Interrupter& stop, detail::Deadline deadline,
                                 std::error_code& ec) noexcept;
    // A call without a Timeout is bounded by SO_RCVTIMEO, as the plain calls are.
    detail::Deadline plain_deadline() const noexcept;

    // Stream (byte stream: TCP, Unix stream) or messages (datagram, seqpacket, raw): decides
    // whether a receive can truncate and whether send_all/recv_exact may loop.
    enum class Kind : unsigned char { stream, messages };

    Socket(native_handle_type handle, Kind kind) noexcept;
    static Kind kind_of(native_handle_type h) noexcept;

    // Errors accept(2) says to treat like "try again": network errors already pending on the
    // new connection (Linux passes them through accept), and a client that reset between
    // readiness and accept. None is the listener's fault.
    static bool accept_retryable(int code) noexcept;
    // One accept call. On failure returns a closed Socket and the OS code in code.
    Socket accept_once(Address* remote, int& code) noexcept;
    Address local_address_or_empty() const noexcept;

    // "operation with PEER": a server's log needs the peer, also after a reset, when the OS
    // forgets it for getpeername (Linux still tells, see former_peer_name). A socket that has
    // no peer (unconnected datagrams, a listener) or one the OS forgot: "operation on LOCAL".
    std::string describe_connection(const char* operation) const;
    friend std::string detail::describe_transfer(const Socket& s, const char* operation);

    Address name_of(bool peer, std::error_code& ec) const noexcept;

    // The bare system call: send (never raising SIGPIPE) or recv, at most max_io bytes. A
    // receive on a message socket goes through recvmsg, the portable way to learn that the
    // datagram did not fit (a plain recv would drop the rest silently).
    long io_call(void* buffer, std::size_t size, bool write, int flags, bool& truncated) noexcept;

    // Plain send_all/recv_exact make the system call that transfer would make first (flags:
    // send_flags only) before anything else: when it moves every byte, that is the whole
    // operation. Otherwise its result goes to transfer as `first`, so a short transfer,
    // EINTR, would-block (SO_RCVTIMEO expiry included) or an error is handled exactly as
    // before, without repeating the call. not_tried: transfer must make the call itself (a
    // receive on a message socket needs recvmsg to see truncation; an empty receive makes no
    // call; a Winsock length is an int).
    static constexpr long not_tried = LONG_MIN;
    long plain_call(void* buffer, std::size_t size, bool write) noexcept;
    // -1 and not_tried never equal a size: no buffer spans the whole address space.
    static bool moved_all(long n, std::size_t size) noexcept;
    static std::size_t succeeded(std::size_t size, std::error_code& ec) noexcept;
#if !defined(SOCKETS_NO_EXCEPTIONS)
    std::size_t finish_or_throw(void* buffer, std::size_t size, bool write, long first);
    [[noreturn]] void throw_transfer(std::error_code ec, const char* operation, std::size_t bytes) const;
#endif

    // One send or recv call, retried on EINTR, waiting on "would block" (see the rule at the
    // top). Returns the bytes moved; for recv, 0 means the peer closed. first: the result of
    // a call already made (plain_call), whose error is still in last_error_code().
    std::size_t transfer(void* buffer, std::size_t size, bool write, detail::Deadline deadline,
                         std::error_code& ec, long first = not_tried) noexcept;
    std::optional<std::size_t> try_transfer(void* buffer, std::size_t size, bool write, std::error_code& ec) noexcept;
    // A successful call's count; a truncated datagram is an error that still counts what fit.
    static std::size_t transferred(long n, std::size_t capacity, bool truncated, std::error_code& ec) noexcept;
    std::size_t send_all_buffers_until(const ConstBuffer* buffers, std::size_t count,
                                       detail::Deadline deadline, std::error_code& ec) noexcept;
    // send_all and recv_exact on a message socket move exactly one datagram: looping would
    // glue or split messages, so a datagram of another size is an error.
    std::size_t send_all_until(const void* data, std::size_t size, detail::Deadline deadline,
                               std::error_code& ec, long first = not_tried) noexcept;
    std::size_t recv_exact_until(void* buffer, std::size_t size, detail::Deadline deadline,
                                 std::error_code& ec, long first = not_tried) noexcept;

    // connect(2) on a Unix-domain socket whose listener's backlog is full fails with EAGAIN
    // (non-blocking) and offers no readiness event to wait for: retry with a short backoff.
    static bool backlog_full(int code, const Address& address) noexcept;
    // After a Unix-domain connect reported EINTR: whether it connected before the signal.
    bool connected_after_interrupt() const noexcept;
    // A plain connect bounded by SO_SNDTIMEO runs as a timed one: Winsock's blocking connect
    // ignores the option, and on Linux a signal would restart it from zero.
    void connect_until(const Address& address, detail::Deadline deadline, std::error_code& ec) noexcept;
    // A plain accept bounded by SO_RCVTIMEO runs as a timed one, for the same reasons.
    Socket accept_until(Address* remote, detail::Deadline deadline, std::error_code& ec) noexcept;
    std::size_t send_to_until(const Address& to, const void* data, std::size_t size, detail::Deadline deadline,
                              std::error_code& ec) noexcept;
    Datagram recv_from_until(void* buffer, std::size_t capacity, detail::Deadline deadline,
                             std::error_code& ec) noexcept;

    void set_raw_option(int level, int name, const void* value, std::size_t size, std::error_code& ec) noexcept;
#if !defined(SOCKETS_NO_EXCEPTIONS)
    void set_option_or_throw(int level, int name, int value, const char* what);
#endif
    int get_option_or_throw(int level, int name, const char* what) const;
    // Timeout::max() turns the option off (the OS's 0); zero or negative means "don't wait",
    // which the OS can only approximate by its smallest timeout (1 us on POSIX, 1 ms on Windows).
    void set_timeout_option(int name, Timeout timeout, std::error_code& ec) noexcept;
    static std::string multicast_what(const char* operation, const Address& group, unsigned interface_index);
    void multicast_membership(const Address& group, bool join, unsigned interface_index, std::error_code& ec) noexcept;

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
[[nodiscard]] SOCKETS_DECL Socket listen_on(const Address& address, const ListenOptions& options, std::error_code& ec);
[[nodiscard]] SOCKETS_DECL Socket listen_on(const Address& address, int backlog, std::error_code& ec);
[[nodiscard]] SOCKETS_DECL Socket listen_on(const Address& address, std::error_code& ec);
#if !defined(SOCKETS_NO_EXCEPTIONS)
[[nodiscard]] SOCKETS_DECL Socket listen_on(const Address& address, const ListenOptions& options);
[[nodiscard]] SOCKETS_DECL Socket listen_on(const Address& address, int backlog = SOMAXCONN);
#endif
///@}

/// The same from "host:port" text: `listen_on("127.0.0.1:0")`, `"[::1]:8080"`,
/// `"0.0.0.0:8080"` (every interface). A numeric host is used as is; a name (`"localhost:8080"`)
/// is resolved, without a deadline, and the first address it gives is used. The text splits
/// as resolve_host_port splits it (a bare IPv6 address needs brackets to carry a port), and the
/// throwing forms name the text in what().
///@{
[[nodiscard]] SOCKETS_DECL Socket listen_on(std::string_view host_port, const ListenOptions& options,
                                            std::error_code& ec);
[[nodiscard]] SOCKETS_DECL Socket listen_on(std::string_view host_port, int backlog, std::error_code& ec);
[[nodiscard]] SOCKETS_DECL Socket listen_on(std::string_view host_port, std::error_code& ec);
#if !defined(SOCKETS_NO_EXCEPTIONS)
[[nodiscard]] SOCKETS_DECL Socket listen_on(std::string_view host_port, const ListenOptions& options);
[[nodiscard]] SOCKETS_DECL Socket listen_on(std::string_view host_port, int backlog = SOMAXCONN);
#endif
///@}

#if !defined(_WIN32)
/// Two connected sockets (AF_UNIX), e.g. to talk to a child process or between threads.
///@{
[[nodiscard]] SOCKETS_DECL std::pair<Socket, Socket> socket_pair(Type type, std::error_code& ec) noexcept;
#if !defined(SOCKETS_NO_EXCEPTIONS)
[[nodiscard]] SOCKETS_DECL std::pair<Socket, Socket> socket_pair(Type type = Type::stream);
#endif
///@}
#endif

namespace detail {
// Makes wait() return from another thread: eventfd (Linux), a pipe (other POSIX), a loopback
// TCP pair (Windows, where only sockets can be waited on).
class Waker {
public:
    Waker();
    native_handle_type handle() const noexcept { return read_.native_handle(); }

    // Thread-safe. A full pipe/buffer (EAGAIN) already means a wake-up is pending.
    void wake() noexcept;
    void drain() noexcept;

private:
    Socket read_;   // not always a socket, but a descriptor Socket closes correctly
    Socket write_;  // unused with eventfd
};
}  // namespace detail

/// Stops calls blocked in other threads: the portable way to end a thread waiting in accept or
/// recv (POSIX has none for a plain blocking call: shutdown wakes accept on Linux only, and
/// closing the descriptor under another thread races with its reuse).
/// @code
///   Interrupter stop;                               // thread-safe; shared by reference
///   std::thread worker([&] {
///       std::error_code ec;
///       for (;;) {
///           Socket client = listener.accept(stop, ec);
///           if (ec == errc::cancelled) return;      // stop.interrupt() was called
///           ...
///       }
///   });
///   stop.interrupt();                               // from any thread, any number of times
///   worker.join();
/// @endcode
/// Calls given an Interrupter: Socket::accept(stop, ...), Socket::recv(buffer, stop, ...),
/// Socket::recv_some(max, stop, ...). Interrupted is a state, not an event: every call given
/// it fails with errc::cancelled at once until reset(), so a thread interrupted between two
/// calls still stops. Its native_handle() is readable while interrupted, to wake a Poller
/// too. Neither copyable nor movable (threads hold it by reference). Linux: an eventfd;
/// other POSIX: a pipe; Windows: a connected loopback TCP pair (the Poller's wake-up).
class Interrupter {
public:
    /// Opens the wake-up handle. No std::error_code form: failure goes through
    /// sockets::throw_exception (as for Poller()).
    Interrupter();
    ~Interrupter();
    Interrupter(const Interrupter&) = delete;
    Interrupter& operator=(const Interrupter&) = delete;

    /// Any thread, any number of times: every call waiting with this interrupter, and every
    /// later one, fails with errc::cancelled until reset().
    void interrupt() noexcept;
    /// Clears the state for another round. Call it only when no call is using the interrupter.
    void reset() noexcept;
    /// True between interrupt() and reset().
    bool interrupted() const noexcept { return detail::flag_load(interrupted_); }
    /// Readable while interrupted: register it with a Poller to wake a wait too.
    native_handle_type native_handle() const noexcept { return waker_.handle(); }

private:
    detail::SharedFlag interrupted_ = 0;
    detail::Waker waker_;  // the Poller's wake-up handle, readable while interrupted
};

namespace detail {
// Waits until h is readable or stop is interrupted (errc::cancelled) or the deadline passes
// (timed_out), retrying EINTR. True: h is readable (or woke early: try again).
SOCKETS_DECL bool wait_or_cancel(native_handle_type h, const Interrupter& stop, const Deadline& deadline,
                                 std::error_code& ec) noexcept;
}  // namespace detail

// ---- inline members: the transfer fast paths, accessors and templates ---------------------
// Kept in the header in both modes: a plain send_all/recv_exact that moves every byte in its
// first system call must not pay a call into the compiled library (docs/internals.md).

inline Socket::Socket(native_handle_type handle) noexcept : handle_(handle), kind_(kind_of(handle)) {}
inline Socket::Socket(native_handle_type handle, Kind kind) noexcept : handle_(handle), kind_(kind) {}

inline Socket::Socket(Socket&& other) noexcept : kind_(other.kind_), segmentation_(other.segmentation_) {
    handle_ = other.release();
}

inline Socket& Socket::operator=(Socket&& other) noexcept {
    if (this != &other) {
        std::error_code ignored;
        close(ignored);
        kind_ = other.kind_;
        segmentation_ = other.segmentation_;
        handle_ = other.release();
    }
    return *this;
}

inline Socket::~Socket() {
    if (is_open()) detail::close_handle(handle_);
}

inline Socket::native_handle_type Socket::native_handle() const noexcept { return handle_; }
inline bool Socket::is_open() const noexcept { return handle_ != detail::invalid_handle; }
inline Socket::operator bool() const noexcept { return is_open(); }
inline Socket::native_handle_type Socket::release() noexcept { return std::exchange(handle_, detail::invalid_handle); }

inline bool Socket::check_open(std::error_code& ec) const noexcept {
    ec.clear();
    if (is_open()) return true;
    ec = errc::not_open;
    return false;
}

inline std::size_t Socket::send(const void* data, std::size_t size, std::error_code& ec) noexcept {
    return transfer(const_cast<void*>(data), size, true, detail::Deadline(), ec);
}
inline std::size_t Socket::send(const void* data, std::size_t size, Timeout timeout, std::error_code& ec) noexcept {
    return transfer(const_cast<void*>(data), size, true, detail::Deadline(timeout), ec);
}
inline std::size_t Socket::send(ConstBuffer b, std::error_code& ec) noexcept { return send(b.data, b.size, ec); }
inline std::size_t Socket::send(ConstBuffer b, Timeout t, std::error_code& ec) noexcept { return send(b.data, b.size, t, ec); }

inline std::size_t Socket::recv(void* buffer, std::size_t capacity, std::error_code& ec) noexcept {
    return transfer(buffer, capacity, false, detail::Deadline(), ec);
}
inline std::size_t Socket::recv(void* buffer, std::size_t capacity, Timeout timeout, std::error_code& ec) noexcept {
    return transfer(buffer, capacity, false, detail::Deadline(timeout), ec);
}
inline std::size_t Socket::recv(MutableBuffer b, std::error_code& ec) noexcept { return recv(b.data, b.size, ec); }
inline std::size_t Socket::recv(MutableBuffer b, Timeout t, std::error_code& ec) noexcept { return recv(b.data, b.size, t, ec); }

inline std::size_t Socket::send_all(const void* data, std::size_t size, std::error_code& ec) noexcept {
    long n = plain_call(const_cast<void*>(data), size, true);
    return moved_all(n, size) ? succeeded(size, ec) : send_all_until(data, size, detail::Deadline(), ec, n);
}
inline std::size_t Socket::send_all(const void* data, std::size_t size, Timeout timeout, std::error_code& ec) noexcept {
    return send_all_until(data, size, detail::Deadline(timeout), ec);
}
inline std::size_t Socket::send_all(ConstBuffer b, std::error_code& ec) noexcept { return send_all(b.data, b.size, ec); }
inline std::size_t Socket::send_all(ConstBuffer b, Timeout t, std::error_code& ec) noexcept {
    return send_all(b.data, b.size, t, ec);
}

inline std::size_t Socket::recv_exact(void* buffer, std::size_t size, std::error_code& ec) noexcept {
    long n = plain_call(buffer, size, false);
    return moved_all(n, size) ? succeeded(size, ec) : recv_exact_until(buffer, size, detail::Deadline(), ec, n);
}
inline std::size_t Socket::recv_exact(void* buffer, std::size_t size, Timeout timeout, std::error_code& ec) noexcept {
    return recv_exact_until(buffer, size, detail::Deadline(timeout), ec);
}
inline std::size_t Socket::recv_exact(MutableBuffer b, std::error_code& ec) noexcept { return recv_exact(b.data, b.size, ec); }
inline std::size_t Socket::recv_exact(MutableBuffer b, Timeout t, std::error_code& ec) noexcept {
    return recv_exact(b.data, b.size, t, ec);
}

#if !defined(SOCKETS_NO_EXCEPTIONS)
inline std::size_t Socket::send(const void* data, std::size_t size) {
    std::error_code ec;
    std::size_t n = send(data, size, ec);
    if (ec) throw_transfer(ec, "send", n);
    return n;
}
inline std::size_t Socket::send(const void* data, std::size_t size, Timeout timeout) {
    std::error_code ec;
    std::size_t n = send(data, size, timeout, ec);
    if (ec) throw_transfer(ec, "send", n);
    return n;
}
inline std::size_t Socket::send(ConstBuffer b) { return send(b.data, b.size); }
inline std::size_t Socket::send(ConstBuffer b, Timeout t) { return send(b.data, b.size, t); }

inline std::size_t Socket::recv(void* buffer, std::size_t capacity) {
    std::error_code ec;
    std::size_t n = recv(buffer, capacity, ec);
    if (ec) throw_transfer(ec, "recv", n);
    return n;
}
inline std::size_t Socket::recv(void* buffer, std::size_t capacity, Timeout timeout) {
    std::error_code ec;
    std::size_t n = recv(buffer, capacity, timeout, ec);
    if (ec) throw_transfer(ec, "recv", n);
    return n;
}
inline std::size_t Socket::recv(MutableBuffer b) { return recv(b.data, b.size); }
inline std::size_t Socket::recv(MutableBuffer b, Timeout t) { return recv(b.data, b.size, t); }

inline std::size_t Socket::send_all(const void* data, std::size_t size) {
    long n = plain_call(const_cast<void*>(data), size, true);
    return moved_all(n, size) ? size : finish_or_throw(const_cast<void*>(data), size, true, n);
}
inline std::size_t Socket::send_all(const void* data, std::size_t size, Timeout timeout) {
    std::error_code ec;
    std::size_t n = send_all(data, size, timeout, ec);
    if (ec) throw_transfer(ec, "send_all", n);
    return n;
}
inline std::size_t Socket::send_all(ConstBuffer b) { return send_all(b.data, b.size); }
inline std::size_t Socket::send_all(ConstBuffer b, Timeout t) { return send_all(b.data, b.size, t); }

inline std::size_t Socket::recv_exact(void* buffer, std::size_t size) {
    long n = plain_call(buffer, size, false);
    return moved_all(n, size) ? size : finish_or_throw(buffer, size, false, n);
}
inline std::size_t Socket::recv_exact(void* buffer, std::size_t size, Timeout timeout) {
    std::error_code ec;
    std::size_t n = recv_exact(buffer, size, timeout, ec);
    if (ec) throw_transfer(ec, "recv_exact", n);
    return n;
}
inline std::size_t Socket::recv_exact(MutableBuffer b) { return recv_exact(b.data, b.size); }
inline std::size_t Socket::recv_exact(MutableBuffer b, Timeout t) { return recv_exact(b.data, b.size, t); }
#endif

inline long Socket::plain_call(void* buffer, std::size_t size, bool write) noexcept {
    if (sizeof(detail::io_size) < sizeof(std::size_t) && size > detail::max_io) return not_tried;
    if (write)
        return static_cast<long>(::send(handle_, static_cast<const char*>(buffer),
                                        static_cast<detail::io_size>(size), detail::send_flags));
    if (kind_ != Kind::stream || size == 0) return not_tried;
    return static_cast<long>(::recv(handle_, static_cast<char*>(buffer), static_cast<detail::io_size>(size), 0));
}
inline bool Socket::moved_all(long n, std::size_t size) noexcept { return static_cast<std::size_t>(n) == size; }
inline std::size_t Socket::succeeded(std::size_t size, std::error_code& ec) noexcept {
    ec.clear();
    return size;
}

template <class T>
void Socket::set_option(int level, int name, const T& value, std::error_code& ec) noexcept {
    static_assert(std::is_trivially_copyable_v<T>, "socket options are plain bytes");
    if constexpr (std::is_same_v<T, bool>) {
        set_option(level, name, static_cast<int>(value), ec);
    } else {
        set_raw_option(level, name, &value, sizeof value, ec);
    }
}

template <class T>
bool Socket::get_option(int level, int name, T& value, std::error_code& ec) const noexcept {
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

#if !defined(SOCKETS_NO_EXCEPTIONS)
template <class T>
void Socket::set_option(int level, int name, const T& value) {
    std::error_code ec;
    set_option(level, name, value, ec);
    detail::throw_if(ec, "setsockopt");
}

template <class T>
T Socket::get_option(int level, int name) const {
    std::error_code ec;
    T value{};
    get_option(level, name, value, ec);
    detail::throw_if(ec, "getsockopt");
    return value;
}
#endif

SOCKETS_MODE_NAMESPACE_END
}  // namespace sockets

#if !defined(SOCKETS_SEPARATE_COMPILATION)
#include "impl/socket.ipp"
#endif
