// The one place where POSIX and Winsock differ. Everything above this header speaks in the
// names defined here: native_handle_type, invalid_handle, last_error(), close_handle(), ...
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>
#include <system_error>

#include "../config.hpp"

#if defined(_WIN32)
#ifndef NOMINMAX
#define NOMINMAX  // keep windows.h from defining min/max macros that break std::min
#endif
#ifndef WIN32_LEAN_AND_MEAN
#define WIN32_LEAN_AND_MEAN
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
#include <pthread.h>
#include <sys/select.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <sys/uio.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>
#define SOCKETS_HAS_UNIX_DOMAIN 1
#if defined(__linux__)
#include <sys/epoll.h>
#define SOCKETS_HAS_EPOLL 1
#endif
#endif

namespace sockets {
SOCKETS_MODE_NAMESPACE_BEGIN

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
    std::string message(int code) const override;
    std::error_condition default_error_condition(int code) const noexcept override;
};

SOCKETS_DECL const std::error_category& os_category() noexcept;
inline int last_error_code() noexcept { return WSAGetLastError(); }
inline std::error_code os_error(int code) noexcept { return {code, os_category()}; }
inline bool is_interrupted(int code) noexcept { return code == WSAEINTR; }
inline bool is_would_block(int code) noexcept { return code == WSAEWOULDBLOCK; }
inline bool is_in_progress(int code) noexcept {
    return code == WSAEWOULDBLOCK || code == WSAEINPROGRESS || code == WSAEALREADY;
}
inline constexpr int timed_out_code = WSAETIMEDOUT;
inline constexpr int would_block_code = WSAEWOULDBLOCK;
// Winsock must be started (WSAStartup) before its first use. It is started lazily, once per
// process, by the first call that needs it (opening a socket, resolving a name), and never from
// a static constructor or destructor: in a DLL those run inside DllMain under the loader lock,
// where Microsoft forbids calling WSAStartup/WSACleanup (WSAStartup and "Dynamic-Link Library
// Best Practices"). WSACleanup is never called: process exit releases Winsock, so sockets in
// static objects keep working until then. C++11 makes the one-time start thread-safe.
SOCKETS_DECL void ensure_network() noexcept;

#ifndef SIO_UDP_CONNRESET
#define SIO_UDP_CONNRESET _WSAIOW(IOC_VENDOR, 12)  // mstcpip.h
#endif

SOCKETS_DECL native_handle_type open_socket(int family, int type, int protocol) noexcept;

inline int set_nonblocking(native_handle_type h, bool on) noexcept {
    u_long mode = on ? 1 : 0;
    return ioctlsocket(h, FIONBIO, &mode);
}

// closesocket on a non-blocking socket with a non-zero SO_LINGER fails with WSAEWOULDBLOCK and
// leaves the socket open (closesocket's documentation): switch it to blocking and close again,
// which lingers as asked. The library may have made the socket non-blocking itself (io.hpp).
SOCKETS_DECL int close_handle(native_handle_type h) noexcept;

SOCKETS_DECL native_handle_type accept_socket(native_handle_type listener, sockaddr* addr,
                                              socklen* len) noexcept;


// A plain call failed with "would block": was that the kernel's SO_RCVTIMEO/SO_SNDTIMEO
// expiring on a blocking socket? Never on Winsock: a blocking call reports its timeout as
// WSAETIMEDOUT, and WSAEWOULDBLOCK comes only from a non-blocking socket.
inline bool would_block_means_timeout(native_handle_type) noexcept { return false; }

// See the POSIX twin: Winsock has no way to read a peer it has forgotten.
inline int former_peer_name(native_handle_type, sockaddr*, socklen*) noexcept { return -1; }

// Winsock has no per-call MSG_DONTWAIT and cannot report a socket's mode, so a timed or try_
// call needs the socket non-blocking. It is switched once and never back: switching back
// would make another thread's call on the same socket block (or fail) unexpectedly, while
// every call of this library behaves the same in either mode.
inline int prepare_nonwaiting_call(native_handle_type h) noexcept { return set_nonblocking(h, true); }

// SO_RCVTIMEO / SO_SNDTIMEO in milliseconds (0: none).
SOCKETS_DECL long long socket_timeout_ms(native_handle_type h, bool write) noexcept;

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

// Winsock's fd_set is { u_int fd_count; SOCKET fd_array[FD_SETSIZE]; }, and FD_SETSIZE is
// whatever each translation unit defined before its first <winsock2.h> (64 by default): inline
// code using fd_set would differ between units (an ODR violation; the linker keeps one copy,
// which may overrun another unit's sets). The library's sets have the same layout with a fixed
// capacity of their own, handed to select() as fd_set* (select reads fd_count, then that many
// handles: "fd_set structure"), so no unit's FD_SETSIZE matters.
inline constexpr std::size_t select_capacity = 1024;
struct HandleSet {
    u_int fd_count;
    SOCKET fd_array[select_capacity];
};
inline void set_clear(HandleSet& s) noexcept { s.fd_count = 0; }
inline void set_add(HandleSet& s, native_handle_type h) noexcept {
    if (s.fd_count < select_capacity) s.fd_array[s.fd_count++] = h;
}
inline bool set_has(const HandleSet& s, native_handle_type h) noexcept {
    for (u_int i = 0; i < s.fd_count; ++i)
        if (s.fd_array[i] == h) return true;
    return false;
}
inline std::size_t set_size(const HandleSet& s) noexcept { return s.fd_count; }
inline fd_set* as_fd_set(HandleSet* s) noexcept { return reinterpret_cast<fd_set*>(s); }

// On Windows a set counts sockets (any SOCKET value fits).
inline bool select_accepts(native_handle_type, std::size_t registered) noexcept {
    return registered < select_capacity;
}
inline int select_handles(int, HandleSet* read, HandleSet* write, HandleSet* except, int timeout_ms) noexcept {
    if (read->fd_count == 0 && write->fd_count == 0 && except->fd_count == 0) return sleep_ms(timeout_ms);
    timeval tv{timeout_ms / 1000, (timeout_ms % 1000) * 1000};
    return ::select(0, as_fd_set(read), as_fd_set(write), as_fd_set(except), timeout_ms < 0 ? nullptr : &tv);
}
// A failed non-blocking connect shows in the except set on Windows.
inline constexpr bool select_except_means_error = true;

// One gather write of up to 64 pieces, the first starting offset bytes in. Buffer has .data
// and .size. Returns bytes sent or -1 (error in last_error_code()).
template <class Buffer>
long gather_send(native_handle_type h, const Buffer* buffers, std::size_t count, std::size_t offset,
                 int flags) noexcept {
    WSABUF pieces[64];
    DWORD n = 0;
    for (; n < count && n < 64; ++n) {
        std::size_t skip = n == 0 ? offset : 0;
        std::size_t size = buffers[n].size - skip;
        pieces[n].buf = const_cast<char*>(static_cast<const char*>(buffers[n].data) + skip);
        pieces[n].len = static_cast<ULONG>(size > 0x7fffffffu ? 0x7fffffffu : size);
    }
    DWORD sent = 0;
    if (WSASend(h, pieces, n, &sent, static_cast<DWORD>(flags), nullptr, nullptr) != 0) return -1;
    return static_cast<long>(sent);
}

// One datagram; truncated tells whether it was larger than capacity. from may be null.
inline long recv_datagram(native_handle_type h, void* buffer, std::size_t capacity, int flags, sockaddr* from,
                          socklen* from_len, bool& truncated) noexcept {
    int n = ::recvfrom(h, static_cast<char*>(buffer), static_cast<int>(capacity > 0x7fffffffu ? 0x7fffffffu : capacity),
                       flags, from, from ? from_len : nullptr);
    truncated = false;
    if (n < 0 && WSAGetLastError() == WSAEMSGSIZE) {  // Winsock fills the buffer and says so
        truncated = true;
        return static_cast<long>(capacity);
    }
    return n;
}

// Waits until h is readable (or writable) or timeout_ms passes (-1: forever). select, not
// WSAPoll: WSAPoll does not report a failed connect on older Windows, select's except set does.
// One socket per set: it cannot overflow.
inline int wait_for(native_handle_type h, bool write, int timeout_ms) noexcept {
    HandleSet ready, failed;
    set_clear(ready);
    set_clear(failed);
    set_add(ready, h);
    set_add(failed, h);
    timeval tv{timeout_ms / 1000, (timeout_ms % 1000) * 1000};
    return ::select(0, write ? nullptr : as_fd_set(&ready), write ? as_fd_set(&ready) : nullptr,
                    as_fd_set(&failed), timeout_ms < 0 ? nullptr : &tv);
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
inline bool is_in_progress(int code) noexcept { return code == EINPROGRESS || code == EALREADY; }
inline constexpr int timed_out_code = ETIMEDOUT;
inline constexpr int would_block_code = EWOULDBLOCK;
inline void ensure_network() noexcept {}

SOCKETS_DECL int close_handle(native_handle_type h) noexcept;

SOCKETS_DECL void set_cloexec_and_nosigpipe(native_handle_type h) noexcept;

SOCKETS_DECL native_handle_type open_socket(int family, int type, int protocol) noexcept;

SOCKETS_DECL native_handle_type accept_socket(native_handle_type listener, sockaddr* addr,
                                              socklen* len) noexcept;

inline int set_nonblocking(native_handle_type h, bool on) noexcept {
    int flags = ::fcntl(h, F_GETFL);
    if (flags < 0) return -1;
    int wanted = on ? (flags | O_NONBLOCK) : (flags & ~O_NONBLOCK);
    return wanted == flags ? 0 : ::fcntl(h, F_SETFL, wanted);
}

// A plain call failed with "would block": on a blocking socket only an expired
// SO_RCVTIMEO/SO_SNDTIMEO does that (the mode is read from the kernel, never assumed).
inline bool would_block_means_timeout(native_handle_type h) noexcept {
    int flags = ::fcntl(h, F_GETFL);
    return flags >= 0 && (flags & O_NONBLOCK) == 0;
}

// Transfers have MSG_DONTWAIT per call: nothing to prepare, the socket's mode never changes.
inline int prepare_nonwaiting_call(native_handle_type) noexcept { return 0; }

// The peer of a TCP connection that is over. getpeername fails once a connection was reset
// (or closed by both sides), which is exactly when an error message needs the peer; Linux
// still reads it through SO_PEERNAME, given the exact length of an address of the socket's
// family (the local one's). Elsewhere, and for a socket that never had a peer: -1.
inline int former_peer_name(native_handle_type h, sockaddr* address, socklen* len) noexcept {
#if defined(__linux__) && defined(SO_PEERNAME)
    ::sockaddr_storage local{};
    socklen n = sizeof local;
    if (::getsockname(h, reinterpret_cast<sockaddr*>(&local), &n) != 0 ||
        (local.ss_family != AF_INET && local.ss_family != AF_INET6) || n > *len)
        return -1;
    if (::getsockopt(h, SOL_SOCKET, SO_PEERNAME, address, &n) != 0) return -1;
    *len = n;
    return 0;
#else
    (void)h, (void)address, (void)len;
    return -1;
#endif
}

// SO_RCVTIMEO / SO_SNDTIMEO in milliseconds, rounded up (0: none).
SOCKETS_DECL long long socket_timeout_ms(native_handle_type h, bool write) noexcept;

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

// POSIX fd_set is a bitmap of FD_SETSIZE bits fixed by the C library: the same in every unit.
inline constexpr std::size_t select_capacity = FD_SETSIZE;
using HandleSet = fd_set;
inline void set_clear(HandleSet& s) noexcept { FD_ZERO(&s); }
inline void set_add(HandleSet& s, native_handle_type h) noexcept { FD_SET(h, &s); }  // after select_accepts
inline bool set_has(const HandleSet& s, native_handle_type h) noexcept {
    return FD_ISSET(h, const_cast<HandleSet*>(&s));
}

// FD_SET on a descriptor >= FD_SETSIZE writes past the fd_set: memory corruption, so refuse it.
inline bool select_accepts(native_handle_type h, std::size_t) noexcept { return h >= 0 && h < FD_SETSIZE; }
inline int select_handles(int max_handle, HandleSet* read, HandleSet* write, HandleSet* except, int timeout_ms) noexcept {
    ::timeval tv{timeout_ms / 1000, (timeout_ms % 1000) * 1000};
    return ::select(max_handle + 1, read, write, except, timeout_ms < 0 ? nullptr : &tv);
}
// On POSIX the except set means out-of-band data, not failure.
inline constexpr bool select_except_means_error = false;

// One gather write of up to 64 pieces, the first starting offset bytes in. Buffer has .data
// and .size. Returns bytes sent or -1 (error in last_error_code()).
template <class Buffer>
long gather_send(native_handle_type h, const Buffer* buffers, std::size_t count, std::size_t offset,
                 int flags) noexcept {
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

// One datagram; truncated tells whether it was larger than capacity (MSG_TRUNC). from may
// be null.
inline long recv_datagram(native_handle_type h, void* buffer, std::size_t capacity, int flags, sockaddr* from,
                          socklen* from_len, bool& truncated) noexcept {
    ::iovec piece{buffer, capacity};
    ::msghdr message{};
    message.msg_name = from;
    message.msg_namelen = from ? *from_len : 0;
    message.msg_iov = &piece;
    message.msg_iovlen = 1;
    auto n = ::recvmsg(h, &message, flags);
    if (from) *from_len = message.msg_namelen;
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

// 4.4BSD rule: macOS and the BSDs put the structure's length in a leading byte of every
// sockaddr (sa_len, sin_len, sun_len); Linux and Windows have no such field. bind and connect
// take the length from their argument, but an address inside a structure has only its own
// field: MCAST_JOIN_GROUP's group_req fails with EINVAL unless sin_len is right (in_mcast.c),
// and getnameinfo checks it too. Fill it in for every address built by hand.
#if defined(__APPLE__) || defined(__FreeBSD__) || defined(__NetBSD__) || defined(__OpenBSD__) || \
    defined(__DragonFly__)
inline void set_sockaddr_length(sockaddr* address, std::size_t length) noexcept {
    address->sa_len = static_cast<std::uint8_t>(length);
}
#else
inline void set_sockaddr_length(sockaddr*, std::size_t) noexcept {}
#endif

// Abstract Unix-domain names (a sun_path starting with NUL) are a Linux rule (unix(7)); Windows'
// AF_UNIX reports them the same way. macOS and the BSDs have none: they return the address of
// an unbound peer as a bare sockaddr (XNU's sun_noname: 16 bytes, sun_path all NUL), which must
// read as unnamed, not as an abstract name of NULs.
#if defined(__linux__) || defined(_WIN32)
inline constexpr bool unix_abstract_names = true;
#else
inline constexpr bool unix_abstract_names = false;
#endif

inline int set_int_option(native_handle_type h, int level, int name, int value) noexcept {
    return ::setsockopt(h, level, name, reinterpret_cast<const char*>(&value), sizeof value);
}

// How a listener claims its port before bind. POSIX: SO_REUSEADDR, so a restarted server can
// rebind while old connections sit in TIME_WAIT (it never lets two listeners share a port).
// Windows: SO_REUSEADDR would let any other socket steal a bound port, and without
// SO_EXCLUSIVEADDRUSE another process that sets SO_REUSEADDR can bind over ours ("Using
// SO_REUSEADDR and SO_EXCLUSIVEADDRUSE"): claim it exclusively.
// SO_REUSEPORT: several listeners on one port, the kernel spreading clients among them (Linux
// 3.9+, BSD, macOS). Windows has no equivalent (its SO_REUSEADDR lets sockets steal ports).
SOCKETS_DECL int share_port(native_handle_type h) noexcept;

SOCKETS_DECL int claim_port(native_handle_type h) noexcept;

// ---- threads: the OS's own primitives ---------------------------------------------------------
// connect.hpp's resolver thread needs a thread, a reference count and a timed wait. <thread>,
// <mutex>, <condition_variable> and <memory> would add about a quarter to the compile time of
// every file that includes socket.hpp (docs/performance.md, "Include cost").

// A reference count shared between threads; ref_release tells whether the last one went.
using RefCount = long;
#if defined(__GNUC__) || defined(__clang__)
inline void ref_acquire(RefCount& count) noexcept { __atomic_add_fetch(&count, 1, __ATOMIC_RELAXED); }
inline bool ref_release(RefCount& count) noexcept { return __atomic_sub_fetch(&count, 1, __ATOMIC_ACQ_REL) == 0; }
#else
inline void ref_acquire(RefCount& count) noexcept { InterlockedIncrement(&count); }
inline bool ref_release(RefCount& count) noexcept { return InterlockedDecrement(&count) == 0; }
#endif

// A flag one thread raises and others read (Interrupter), without <atomic> in socket.hpp.
using SharedFlag = long;
#if defined(__GNUC__) || defined(__clang__)
inline bool flag_exchange(SharedFlag& flag, bool raised) noexcept {
    return __atomic_exchange_n(&flag, raised ? 1L : 0L, __ATOMIC_ACQ_REL) != 0;
}
inline bool flag_load(const SharedFlag& flag) noexcept { return __atomic_load_n(&flag, __ATOMIC_ACQUIRE) != 0; }
#else
inline bool flag_exchange(SharedFlag& flag, bool raised) noexcept { return InterlockedExchange(&flag, raised ? 1 : 0) != 0; }
inline bool flag_load(const SharedFlag& flag) noexcept {
    return InterlockedCompareExchange(const_cast<SharedFlag*>(&flag), 0, 0) != 0;
}
#endif

#if defined(_WIN32)

template <void (*Body)(void*)>
DWORD WINAPI thread_entry(LPVOID arg) {
    Body(arg);
    return 0;
}

// Runs Body(arg) on a new thread nobody joins.
template <void (*Body)(void*)>
std::error_code start_detached_thread(void* arg) noexcept {
    HANDLE thread = CreateThread(nullptr, 0, thread_entry<Body>, arg, 0, nullptr);
    if (!thread) return {static_cast<int>(GetLastError()), std::system_category()};
    CloseHandle(thread);
    return {};
}

// A one-shot flag: one thread sets it, another waits for it with a timeout.
class Completion {
public:
    Completion() noexcept = default;
    Completion(const Completion&) = delete;
    Completion& operator=(const Completion&) = delete;
    ~Completion() {
        if (event_) CloseHandle(event_);
    }
    std::error_code open() noexcept;
    void set() noexcept { SetEvent(event_); }
    // True once set; otherwise waits up to timeout_ms (-1: forever) for it.
    bool wait(int timeout_ms) noexcept {
        return WaitForSingleObject(event_, timeout_ms < 0 ? INFINITE : static_cast<DWORD>(timeout_ms)) == WAIT_OBJECT_0;
    }

private:
    HANDLE event_ = nullptr;
};

#else

template <void (*Body)(void*)>
void* thread_entry(void* arg) {
    Body(arg);
    return nullptr;
}

// Runs Body(arg) on a new thread nobody joins.
template <void (*Body)(void*)>
std::error_code start_detached_thread(void* arg) noexcept {
    ::pthread_t thread;
    int rc = ::pthread_create(&thread, nullptr, thread_entry<Body>, arg);
    if (rc != 0) return {rc, std::generic_category()};
    ::pthread_detach(thread);
    return {};
}

// A one-shot flag: one thread sets it, another waits for it with a timeout. The timeout runs
// on the monotonic clock (macOS: a relative wait), so a wall-clock change cannot stretch it.
class Completion {
public:
    Completion() noexcept = default;
    Completion(const Completion&) = delete;
    Completion& operator=(const Completion&) = delete;
    ~Completion() {
        if (!open_) return;
        ::pthread_cond_destroy(&cond_);
        ::pthread_mutex_destroy(&mutex_);
    }
    std::error_code open() noexcept;
    void set() noexcept {
        ::pthread_mutex_lock(&mutex_);
        done_ = true;
        ::pthread_cond_broadcast(&cond_);
        ::pthread_mutex_unlock(&mutex_);
    }
    // True once set; otherwise waits up to timeout_ms (-1: forever) for it. May wake early.
    bool wait(int timeout_ms) noexcept {
        ::pthread_mutex_lock(&mutex_);
        if (!done_ && timeout_ms < 0) ::pthread_cond_wait(&cond_, &mutex_);
        if (!done_ && timeout_ms >= 0) timed_wait(timeout_ms);
        bool done = done_;
        ::pthread_mutex_unlock(&mutex_);
        return done;
    }

private:
    void timed_wait(int timeout_ms) noexcept;

    ::pthread_mutex_t mutex_;
    ::pthread_cond_t cond_;
    bool open_ = false;
    bool done_ = false;
};

#endif

// Told by close_handle about every socket closed on this thread, just before the close: an
// EventLoop (async.hpp) sets it while it runs, so a task waiting on a socket that another task
// closed wakes with an error, where epoll would have dropped the descriptor without a word.
struct CloseObserver {
    void (*closing)(void* context, native_handle_type h) noexcept;
    void* context;
};
SOCKETS_DECL CloseObserver*& close_observer() noexcept;

}  // namespace detail
SOCKETS_MODE_NAMESPACE_END
}  // namespace sockets

#if !defined(SOCKETS_SEPARATE_COMPILATION)
#include "impl/platform.ipp"
#endif
