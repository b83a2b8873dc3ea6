// Definitions for detail/platform.hpp: inline in header-only mode, compiled once by
// src/sockets.cpp.
#pragma once

#include "../platform.hpp"

namespace sockets {
SOCKETS_MODE_NAMESPACE_BEGIN
namespace detail {

SOCKETS_DECL CloseObserver*& close_observer() noexcept {
    static thread_local CloseObserver* observer = nullptr;
    return observer;
}

inline void notify_closing(native_handle_type h) noexcept {
    if (CloseObserver* o = close_observer()) o->closing(o->context, h);
}

#if defined(_WIN32)

SOCKETS_DECL std::string WinsockCategory::message(int code) const {
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

SOCKETS_DECL std::error_condition WinsockCategory::default_error_condition(int code) const noexcept {
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
        // GetLastError's codes share the number space: OpenSSL reports a file it cannot
        // open with them (sockets::tls loading certificates and keys).
        case ERROR_FILE_NOT_FOUND:
        case ERROR_PATH_NOT_FOUND: return std::errc::no_such_file_or_directory;
        case ERROR_ACCESS_DENIED: return std::errc::permission_denied;
        default: return std::error_condition(code, *this);
    }
}

SOCKETS_DECL const std::error_category& os_category() noexcept {
    static const WinsockCategory category;
    return category;
}

SOCKETS_DECL void ensure_network() noexcept {
    static const bool started = [] {
        WSADATA data;
        return WSAStartup(MAKEWORD(2, 2), &data) == 0;
    }();
    (void)started;
}

SOCKETS_DECL native_handle_type open_socket(int family, int type, int protocol) noexcept {
    ensure_network();
    // No handle inheritance: the Windows twin of close-on-exec.
    native_handle_type h = WSASocketW(family, type, protocol, nullptr, 0,
                                      WSA_FLAG_OVERLAPPED | WSA_FLAG_NO_HANDLE_INHERIT);
    if (h != INVALID_SOCKET && type == SOCK_DGRAM) {
        // After one datagram draws an ICMP port-unreachable, Windows fails the next recvfrom
        // of an unconnected UDP socket with WSAECONNRESET (SIO_UDP_CONNRESET, "Winsock IOCTLs"):
        // one unreachable client would break a UDP server. POSIX reports ICMP errors only on
        // connected sockets; turn the Windows behaviour off to match.
        BOOL report = FALSE;
        DWORD ignored = 0;
        WSAIoctl(h, SIO_UDP_CONNRESET, &report, sizeof report, nullptr, 0, &ignored, nullptr, nullptr);
    }
    return h;
}

SOCKETS_DECL int close_handle(native_handle_type h) noexcept {
    notify_closing(h);
    if (closesocket(h) == 0) return 0;
    if (WSAGetLastError() != WSAEWOULDBLOCK) return -1;
    set_nonblocking(h, false);
    return closesocket(h);
}

SOCKETS_DECL native_handle_type accept_socket(native_handle_type listener, sockaddr* addr,
                                              socklen* len) noexcept {
    native_handle_type h = ::accept(listener, addr, len);
    // An accepted socket inherits the listener's FIONBIO mode, which the library may have set
    // (see io.hpp); every accepted socket starts blocking, as on Linux.
    if (h != INVALID_SOCKET) set_nonblocking(h, false);
    return h;
}

SOCKETS_DECL long long socket_timeout_ms(native_handle_type h, bool write) noexcept {
    DWORD ms = 0;
    int len = sizeof ms;
    if (::getsockopt(h, SOL_SOCKET, write ? SO_SNDTIMEO : SO_RCVTIMEO, reinterpret_cast<char*>(&ms), &len) != 0)
        return 0;
    return static_cast<long long>(ms);
}

SOCKETS_DECL std::error_code Completion::open() noexcept {
    event_ = CreateEventW(nullptr, TRUE, FALSE, nullptr);
    if (!event_) return {static_cast<int>(GetLastError()), std::system_category()};
    return {};
}

#else  // POSIX

SOCKETS_DECL int close_handle(native_handle_type h) noexcept {
    // After EINTR Linux has already released the descriptor: retrying could close a descriptor
    // another thread just opened. The close happened; report success.
    notify_closing(h);
    int rc = ::close(h);
    return (rc != 0 && errno == EINTR) ? 0 : rc;
}

SOCKETS_DECL void set_cloexec_and_nosigpipe(native_handle_type h) noexcept {
    ::fcntl(h, F_SETFD, ::fcntl(h, F_GETFD) | FD_CLOEXEC);
#if defined(SO_NOSIGPIPE)
    int one = 1;
    ::setsockopt(h, SOL_SOCKET, SO_NOSIGPIPE, &one, sizeof one);
#endif
}

SOCKETS_DECL native_handle_type open_socket(int family, int type, int protocol) noexcept {
#if defined(SOCK_CLOEXEC)
    // Atomic close-on-exec: no window in which a concurrent fork+exec inherits the socket.
    return ::socket(family, type | SOCK_CLOEXEC, protocol);
#else
    native_handle_type h = ::socket(family, type, protocol);
    if (h != invalid_handle) set_cloexec_and_nosigpipe(h);
    return h;
#endif
}

SOCKETS_DECL native_handle_type accept_socket(native_handle_type listener, sockaddr* addr,
                                              socklen* len) noexcept {
#if defined(__linux__)
    return ::accept4(listener, addr, len, SOCK_CLOEXEC);
#else
    native_handle_type h = ::accept(listener, addr, len);
    if (h != invalid_handle) {
        set_cloexec_and_nosigpipe(h);
        // BSD and macOS: an accepted socket inherits O_NONBLOCK, which the library may have
        // set on the listener (see io.hpp); start it blocking, as Linux's accept4 does.
        ::fcntl(h, F_SETFL, ::fcntl(h, F_GETFL) & ~O_NONBLOCK);
    }
    return h;
#endif
}

SOCKETS_DECL long long socket_timeout_ms(native_handle_type h, bool write) noexcept {
    ::timeval tv{};
    socklen_t len = sizeof tv;
    if (::getsockopt(h, SOL_SOCKET, write ? SO_SNDTIMEO : SO_RCVTIMEO, &tv, &len) != 0) return 0;
    return static_cast<long long>(tv.tv_sec) * 1000 + (tv.tv_usec + 999) / 1000;
}

SOCKETS_DECL std::error_code Completion::open() noexcept {
    ::pthread_condattr_t attr;
    int rc = ::pthread_condattr_init(&attr);
    if (rc != 0) return {rc, std::generic_category()};
#if !defined(__APPLE__)
    ::pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
#endif
    rc = ::pthread_cond_init(&cond_, &attr);
    ::pthread_condattr_destroy(&attr);
    if (rc != 0) return {rc, std::generic_category()};
    rc = ::pthread_mutex_init(&mutex_, nullptr);
    if (rc != 0) {
        ::pthread_cond_destroy(&cond_);
        return {rc, std::generic_category()};
    }
    open_ = true;
    return {};
}

SOCKETS_DECL void Completion::timed_wait(int timeout_ms) noexcept {
    ::timespec span{timeout_ms / 1000, static_cast<long>(timeout_ms % 1000) * 1000000L};
#if defined(__APPLE__)
    ::pthread_cond_timedwait_relative_np(&cond_, &mutex_, &span);
#else
    ::timespec at{};
    ::clock_gettime(CLOCK_MONOTONIC, &at);
    at.tv_sec += span.tv_sec;
    at.tv_nsec += span.tv_nsec;
    if (at.tv_nsec >= 1000000000L) {
        at.tv_sec += 1;
        at.tv_nsec -= 1000000000L;
    }
    ::pthread_cond_timedwait(&cond_, &mutex_, &at);
#endif
}

#endif

SOCKETS_DECL int share_port(native_handle_type h) noexcept {
#if defined(SO_REUSEPORT) && !defined(_WIN32)
    return set_int_option(h, SOL_SOCKET, SO_REUSEPORT, 1);
#else
    (void)h;
#if defined(_WIN32)
    WSASetLastError(WSAEOPNOTSUPP);
#else
    errno = ENOPROTOOPT;
#endif
    return -1;
#endif
}

SOCKETS_DECL int claim_port(native_handle_type h) noexcept {
#if defined(_WIN32)
    return set_int_option(h, SOL_SOCKET, SO_EXCLUSIVEADDRUSE, 1);
#else
    return set_int_option(h, SOL_SOCKET, SO_REUSEADDR, 1);
#endif
}

}  // namespace detail
SOCKETS_MODE_NAMESPACE_END
}  // namespace sockets
