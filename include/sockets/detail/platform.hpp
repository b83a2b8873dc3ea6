// The one place where POSIX and Winsock differ. Everything above this header speaks in the
// names defined here: native_handle_type, invalid_handle, last_error(), close_handle(), ...
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>
#include <system_error>

#if defined(_WIN32)
#ifndef NOMINMAX
#define NOMINMAX  // keep windows.h from defining min/max macros that break std::min
#endif
#ifndef WIN32_LEAN_AND_MEAN
#define WIN32_LEAN_AND_MEAN
#endif
#ifndef FD_SETSIZE
// Winsock's FD_SETSIZE counts sockets per fd_set (64 by default); SelectPoller holds this many.
#define FD_SETSIZE 1024
#endif
#include <winsock2.h>
#include <ws2tcpip.h>
#include <windows.h>
#if __has_include(<afunix.h>)
#include <afunix.h>
#define SOCKETS_HAS_UNIX_DOMAIN 1
#else
#define SOCKETS_HAS_UNIX_DOMAIN 0
#endif
#else
#include <arpa/inet.h>
#include <cerrno>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/select.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <sys/uio.h>
#include <sys/un.h>
#include <unistd.h>
#define SOCKETS_HAS_UNIX_DOMAIN 1
#if defined(__linux__)
#include <sys/epoll.h>
#define SOCKETS_HAS_EPOLL 1
#endif
#endif

namespace sockets {

#if defined(_WIN32)
using native_handle_type = SOCKET;
#else
using native_handle_type = int;
#endif

namespace detail {

#if defined(_WIN32)

inline constexpr native_handle_type invalid_handle = INVALID_SOCKET;
using socklen = int;   // Winsock takes int where POSIX takes socklen_t
using io_size = int;   // send/recv lengths are int on Winsock
inline constexpr int send_flags = 0;  // Windows never raises SIGPIPE
inline constexpr int shut_read = SD_RECEIVE;
inline constexpr int shut_write = SD_SEND;
inline constexpr int shut_both = SD_BOTH;

// Winsock reports its own codes (WSAECONNREFUSED, ...). This category gives them readable
// messages and maps them to the portable std::errc conditions, so callers test one thing.
class WinsockCategory final : public std::error_category {
public:
    const char* name() const noexcept override { return "winsock"; }
    std::string message(int code) const override {
        char* text = nullptr;
        DWORD n = FormatMessageA(FORMAT_MESSAGE_ALLOCATE_BUFFER | FORMAT_MESSAGE_FROM_SYSTEM |
                                     FORMAT_MESSAGE_IGNORE_INSERTS,
                                 nullptr, static_cast<DWORD>(code), 0,
                                 reinterpret_cast<LPSTR>(&text), 0, nullptr);
        std::string out = n && text ? std::string(text, n) : "winsock error " + std::to_string(code);
        if (text) LocalFree(text);
        while (!out.empty() && (out.back() == '\n' || out.back() == '\r' || out.back() == '.'))
            out.pop_back();
        return out;
    }
    std::error_condition default_error_condition(int code) const noexcept override {
        switch (code) {
            case WSAEINTR: return std::errc::interrupted;
            case WSAEWOULDBLOCK: return std::errc::operation_would_block;
            case WSAEINPROGRESS: return std::errc::operation_in_progress;
            case WSAEALREADY: return std::errc::connection_already_in_progress;
            case WSAENOTSOCK: return std::errc::not_a_socket;
            case WSAEBADF: return std::errc::bad_file_descriptor;
            case WSAEMSGSIZE: return std::errc::message_size;
            case WSAEADDRINUSE: return std::errc::address_in_use;
            case WSAEADDRNOTAVAIL: return std::errc::address_not_available;
            case WSAENETDOWN: return std::errc::network_down;
            case WSAENETUNREACH: return std::errc::network_unreachable;
            case WSAENETRESET: return std::errc::network_reset;
            case WSAECONNABORTED: return std::errc::connection_aborted;
            case WSAECONNRESET: return std::errc::connection_reset;
            case WSAENOBUFS: return std::errc::no_buffer_space;
            case WSAEISCONN: return std::errc::already_connected;
            case WSAENOTCONN: return std::errc::not_connected;
            case WSAESHUTDOWN: return std::errc::broken_pipe;
            case WSAETIMEDOUT: return std::errc::timed_out;
            case WSAECONNREFUSED: return std::errc::connection_refused;
            case WSAEHOSTUNREACH: return std::errc::host_unreachable;
            case WSAEINVAL: return std::errc::invalid_argument;
            case WSAEAFNOSUPPORT: return std::errc::address_family_not_supported;
            case WSAEMFILE: return std::errc::too_many_files_open;
            case WSAEACCES: return std::errc::permission_denied;
            case WSAEFAULT: return std::errc::bad_address;
            case WSAEOPNOTSUPP: return std::errc::operation_not_supported;
            case WSAEPROTONOSUPPORT: return std::errc::protocol_not_supported;
            case WSAENOPROTOOPT: return std::errc::no_protocol_option;
            default: return std::error_condition(code, *this);
        }
    }
};

inline const std::error_category& os_category() noexcept {
    static const WinsockCategory category;
    return category;
}
inline int last_error_code() noexcept { return WSAGetLastError(); }
inline std::error_code os_error(int code) noexcept { return {code, os_category()}; }
inline bool is_interrupted(int code) noexcept { return code == WSAEINTR; }
inline bool is_would_block(int code) noexcept { return code == WSAEWOULDBLOCK; }
inline bool is_in_progress(int code) noexcept {
    return code == WSAEWOULDBLOCK || code == WSAEINPROGRESS || code == WSAEALREADY;
}
inline int close_handle(native_handle_type h) noexcept { return closesocket(h); }

// Every translation unit that includes the library holds one Winsock reference for as long as
// its static objects live: constructed before any static of that unit that uses a socket and
// destroyed after them, so sockets in static objects work before and after main. WSAStartup and
// WSACleanup keep their own thread-safe count, so no lock of ours is involved.
class WinsockSession {
public:
    WinsockSession() noexcept {
        WSADATA data;
        started_ = WSAStartup(MAKEWORD(2, 2), &data) == 0;
    }
    ~WinsockSession() {
        if (started_) WSACleanup();
    }
    WinsockSession(const WinsockSession&) = delete;
    WinsockSession& operator=(const WinsockSession&) = delete;

private:
    bool started_ = false;
};

// For calls made from a thread or static that no translation-unit session covers yet
// (e.g. a DLL loaded late): one lazily started reference, thread-safe by C++11 static init.
inline void ensure_network() noexcept {
    static const WinsockSession session;
}

inline native_handle_type open_socket(int family, int type, int protocol) noexcept {
    ensure_network();
    // No handle inheritance: the Windows twin of close-on-exec.
    return WSASocketW(family, type, protocol, nullptr, 0,
                      WSA_FLAG_OVERLAPPED | WSA_FLAG_NO_HANDLE_INHERIT);
}

inline native_handle_type accept_socket(native_handle_type listener, sockaddr* addr,
                                        socklen* len) noexcept {
    return ::accept(listener, addr, len);
}

inline int set_nonblocking(native_handle_type h, bool on) noexcept {
    u_long mode = on ? 1 : 0;
    return ioctlsocket(h, FIONBIO, &mode);
}

// Winsock cannot report whether a socket is non-blocking; the library assumes blocking.
inline int is_nonblocking(native_handle_type, bool& on) noexcept {
    on = false;
    return 0;
}

using pollfd_type = WSAPOLLFD;
inline int poll_handles(pollfd_type* fds, std::size_t n, int timeout_ms) noexcept {
    return WSAPoll(fds, static_cast<ULONG>(n), timeout_ms);
}

inline constexpr int dontwait_flag = 0;  // Winsock has no per-call MSG_DONTWAIT


// Flags for pollfd.events: WSAPoll rejects anything beyond normal read/write.
inline constexpr short poll_read = POLLRDNORM;
inline constexpr short poll_write = POLLWRNORM;
inline constexpr short poll_hang_up = POLLHUP;

// Sleeps like a wait with nothing registered; WSAPoll and select refuse empty sets.
inline int sleep_ms(int timeout_ms) noexcept {
    Sleep(timeout_ms < 0 ? INFINITE : static_cast<DWORD>(timeout_ms));
    return 0;
}

// On Windows FD_SETSIZE counts sockets per set (any SOCKET value fits).
inline bool select_accepts(native_handle_type, std::size_t registered) noexcept {
    return registered < FD_SETSIZE;
}
inline int select_handles(int, fd_set* read, fd_set* write, fd_set* except, int timeout_ms) noexcept {
    if (read->fd_count == 0 && write->fd_count == 0 && except->fd_count == 0) return sleep_ms(timeout_ms);
    timeval tv{timeout_ms / 1000, (timeout_ms % 1000) * 1000};
    return ::select(0, read, write, except, timeout_ms < 0 ? nullptr : &tv);
}
// A failed non-blocking connect shows in the except set on Windows.
inline constexpr bool select_except_means_error = true;

// Timed transfers need non-blocking calls and Winsock has no MSG_DONTWAIT: switch the mode for
// the transfer's duration (back to blocking afterwards, since the old mode cannot be read).
class WindowsNonBlockingForDeadline {
public:
    WindowsNonBlockingForDeadline(native_handle_type h, bool active) noexcept : handle_(h), active_(active) {
        if (active_) set_nonblocking(handle_, true);
    }
    ~WindowsNonBlockingForDeadline() {
        if (active_) set_nonblocking(handle_, false);
    }
    WindowsNonBlockingForDeadline(const WindowsNonBlockingForDeadline&) = delete;
    WindowsNonBlockingForDeadline& operator=(const WindowsNonBlockingForDeadline&) = delete;

private:
    native_handle_type handle_;
    bool active_;
};

// One gather write of up to 64 pieces, the first starting offset bytes in. Buffer has .data
// and .size. Returns bytes sent or -1 (error in last_error_code()).
template <class Buffer>
long gather_send(native_handle_type h, const Buffer* buffers, std::size_t count, std::size_t offset,
                 int = 0) noexcept {  // no per-call flags: see WindowsNonBlockingForDeadline
    WSABUF pieces[64];
    DWORD n = 0;
    for (; n < count && n < 64; ++n) {
        std::size_t skip = n == 0 ? offset : 0;
        std::size_t size = buffers[n].size - skip;
        pieces[n].buf = const_cast<char*>(static_cast<const char*>(buffers[n].data) + skip);
        pieces[n].len = static_cast<ULONG>(size > 0x7fffffffu ? 0x7fffffffu : size);
    }
    DWORD sent = 0;
    if (WSASend(h, pieces, n, &sent, 0, nullptr, nullptr) != 0) return -1;
    return static_cast<long>(sent);
}

// One datagram; truncated tells whether it was larger than capacity.
inline long recv_datagram(native_handle_type h, void* buffer, std::size_t capacity, sockaddr* from,
                          socklen* from_len, bool& truncated) noexcept {
    int n = ::recvfrom(h, static_cast<char*>(buffer), static_cast<int>(capacity > 0x7fffffffu ? 0x7fffffffu : capacity),
                       0, from, from_len);
    truncated = false;
    if (n < 0 && WSAGetLastError() == WSAEMSGSIZE) {  // Winsock fills the buffer and says so
        truncated = true;
        return static_cast<long>(capacity);
    }
    return n;
}

// Waits until h is readable (or writable) or timeout_ms passes (-1: forever). select, not
// WSAPoll: WSAPoll does not report a failed connect on older Windows, select's except set does.
// One socket per set, and Winsock's FD_SETSIZE counts sockets, so this cannot overflow.
inline int wait_for(native_handle_type h, bool write, int timeout_ms) noexcept {
    fd_set ready, failed;
    FD_ZERO(&ready);
    FD_ZERO(&failed);
    FD_SET(h, &ready);
    FD_SET(h, &failed);
    timeval tv{timeout_ms / 1000, (timeout_ms % 1000) * 1000};
    return ::select(0, write ? nullptr : &ready, write ? &ready : nullptr, &failed,
                    timeout_ms < 0 ? nullptr : &tv);
}

#else  // POSIX

inline constexpr native_handle_type invalid_handle = -1;
using socklen = socklen_t;
using io_size = std::size_t;
#if defined(MSG_NOSIGNAL)
// Per call, so a peer that has gone yields EPIPE instead of killing the process; the
// process-wide signal disposition stays the user's.
inline constexpr int send_flags = MSG_NOSIGNAL;
#else
inline constexpr int send_flags = 0;  // macOS/BSD: SO_NOSIGPIPE is set when the socket opens
#endif
inline constexpr int shut_read = SHUT_RD;
inline constexpr int shut_write = SHUT_WR;
inline constexpr int shut_both = SHUT_RDWR;

inline const std::error_category& os_category() noexcept { return std::system_category(); }
inline int last_error_code() noexcept { return errno; }
inline std::error_code os_error(int code) noexcept { return {code, std::system_category()}; }
inline bool is_interrupted(int code) noexcept { return code == EINTR; }
inline bool is_would_block(int code) noexcept { return code == EAGAIN || code == EWOULDBLOCK; }
inline bool is_in_progress(int code) noexcept {
    return code == EINPROGRESS || code == EALREADY || code == EINTR;
}
inline void ensure_network() noexcept {}

inline int close_handle(native_handle_type h) noexcept {
    // After EINTR Linux has already released the descriptor: retrying could close a descriptor
    // another thread just opened. The close happened; report success.
    int rc = ::close(h);
    return (rc != 0 && errno == EINTR) ? 0 : rc;
}

inline void set_cloexec_and_nosigpipe(native_handle_type h) noexcept {
    ::fcntl(h, F_SETFD, ::fcntl(h, F_GETFD) | FD_CLOEXEC);
#if defined(SO_NOSIGPIPE)
    int one = 1;
    ::setsockopt(h, SOL_SOCKET, SO_NOSIGPIPE, &one, sizeof one);
#endif
}

inline native_handle_type open_socket(int family, int type, int protocol) noexcept {
#if defined(SOCK_CLOEXEC)
    // Atomic close-on-exec: no window in which a concurrent fork+exec inherits the socket.
    return ::socket(family, type | SOCK_CLOEXEC, protocol);
#else
    native_handle_type h = ::socket(family, type, protocol);
    if (h != invalid_handle) set_cloexec_and_nosigpipe(h);
    return h;
#endif
}

inline native_handle_type accept_socket(native_handle_type listener, sockaddr* addr,
                                        socklen* len) noexcept {
#if defined(__linux__)
    return ::accept4(listener, addr, len, SOCK_CLOEXEC);
#else
    native_handle_type h = ::accept(listener, addr, len);
    if (h != invalid_handle) set_cloexec_and_nosigpipe(h);
    return h;
#endif
}

inline int set_nonblocking(native_handle_type h, bool on) noexcept {
    int flags = ::fcntl(h, F_GETFL);
    if (flags < 0) return -1;
    int wanted = on ? (flags | O_NONBLOCK) : (flags & ~O_NONBLOCK);
    return wanted == flags ? 0 : ::fcntl(h, F_SETFL, wanted);
}

inline int is_nonblocking(native_handle_type h, bool& on) noexcept {
    int flags = ::fcntl(h, F_GETFL);
    if (flags < 0) return -1;
    on = (flags & O_NONBLOCK) != 0;
    return 0;
}

using pollfd_type = ::pollfd;
inline int poll_handles(pollfd_type* fds, std::size_t n, int timeout_ms) noexcept {
    return ::poll(fds, static_cast<nfds_t>(n), timeout_ms);
}

// Per call, so a timed transfer never blocks past its deadline whatever the socket's mode.
inline constexpr int dontwait_flag = MSG_DONTWAIT;


// Flags for pollfd.events. POLLRDHUP (Linux) reports a peer's half-close as a hang-up.
inline constexpr short poll_read = POLLIN;
inline constexpr short poll_write = POLLOUT;
#if defined(POLLRDHUP)
inline constexpr short poll_hang_up = POLLHUP | POLLRDHUP;
#else
inline constexpr short poll_hang_up = POLLHUP;
#endif

// Sleeps like a wait with nothing registered (poll with no descriptors; EINTR as usual).
inline int sleep_ms(int timeout_ms) noexcept { return ::poll(nullptr, 0, timeout_ms); }

// FD_SET on a descriptor >= FD_SETSIZE writes past the fd_set: memory corruption, so refuse it.
inline bool select_accepts(native_handle_type h, std::size_t) noexcept { return h >= 0 && h < FD_SETSIZE; }
inline int select_handles(int max_handle, fd_set* read, fd_set* write, fd_set* except, int timeout_ms) noexcept {
    ::timeval tv{timeout_ms / 1000, (timeout_ms % 1000) * 1000};
    return ::select(max_handle + 1, read, write, except, timeout_ms < 0 ? nullptr : &tv);
}
// On POSIX the except set means out-of-band data, not failure.
inline constexpr bool select_except_means_error = false;

// POSIX has MSG_DONTWAIT per call, so the socket's mode never changes.
class WindowsNonBlockingForDeadline {
public:
    WindowsNonBlockingForDeadline(native_handle_type, bool) noexcept {}
};

// One gather write of up to 64 pieces, the first starting offset bytes in. Buffer has .data
// and .size. Returns bytes sent or -1 (error in last_error_code()).
template <class Buffer>
long gather_send(native_handle_type h, const Buffer* buffers, std::size_t count, std::size_t offset,
                 int flags = 0) noexcept {
    ::iovec pieces[64];
    std::size_t n = 0;
    for (; n < count && n < 64; ++n) {
        std::size_t skip = n == 0 ? offset : 0;
        pieces[n].iov_base = const_cast<char*>(static_cast<const char*>(buffers[n].data) + skip);
        pieces[n].iov_len = buffers[n].size - skip;
    }
    ::msghdr message{};
    message.msg_iov = pieces;
    message.msg_iovlen = static_cast<decltype(message.msg_iovlen)>(n);
    return static_cast<long>(::sendmsg(h, &message, send_flags | flags));
}

// One datagram; truncated tells whether it was larger than capacity (MSG_TRUNC).
inline long recv_datagram(native_handle_type h, void* buffer, std::size_t capacity, sockaddr* from,
                          socklen* from_len, bool& truncated) noexcept {
    ::iovec piece{buffer, capacity};
    ::msghdr message{};
    message.msg_name = from;
    message.msg_namelen = *from_len;
    message.msg_iov = &piece;
    message.msg_iovlen = 1;
    auto n = ::recvmsg(h, &message, 0);
    *from_len = message.msg_namelen;
    truncated = n >= 0 && (message.msg_flags & MSG_TRUNC) != 0;
    return static_cast<long>(n);
}

// Waits until h is readable (or writable) or timeout_ms passes (-1: forever). poll, never
// select: a descriptor >= FD_SETSIZE would overrun an fd_set.
inline int wait_for(native_handle_type h, bool write, int timeout_ms) noexcept {
    ::pollfd p{h, static_cast<short>(write ? POLLOUT : POLLIN), 0};
    return ::poll(&p, 1, timeout_ms);
}

#endif

inline std::error_code last_error() noexcept { return os_error(last_error_code()); }

}  // namespace detail
}  // namespace sockets

#if defined(_WIN32)
namespace {
// One per translation unit; see WinsockSession above for why this is balanced and safe.
const sockets::detail::WinsockSession sockets_winsock_session_for_this_translation_unit;
}  // namespace
#endif
