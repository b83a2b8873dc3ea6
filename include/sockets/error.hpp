// The library's error model.
//
// Every fallible operation has two forms:
//   - throwing:      throws std::system_error whose what() names the operation and the address,
//                    e.g. "connect 127.0.0.1:9: Connection refused";
//   - non-throwing:  takes std::error_code& as its last argument, clears it on success.
// OS errors use the OS's category (errno on POSIX, Winsock codes on Windows) and compare equal
// to the portable std::errc values. Conditions that no OS code describes live in sockets::errc.
#pragma once

#include <cstddef>
#include <string>
#include <system_error>

#include "detail/platform.hpp"

namespace sockets {

enum class errc {
    end_of_stream = 1,   // the peer closed before the whole transfer or message arrived
    not_open,            // operation on a closed, moved-from or never-opened socket
    invalid_address,     // text that is not an address ("1.2.3", "[::1", ...)
    port_out_of_range,   // port outside 0..65535
    address_too_long,    // a Unix-domain path that does not fit sun_path
    message_too_large,   // a frame or line above the configured limit
    not_stream_socket,   // send_all/recv_exact on a datagram socket
    datagram_truncated,  // the datagram was larger than the buffer; the rest is lost
    handle_out_of_range, // select: a descriptor >= FD_SETSIZE (or a full fd_set on Windows)
    already_registered,  // a Poller already watches this handle
    not_registered,      // a Poller does not watch this handle
};

namespace detail {

class LibraryCategory final : public std::error_category {
public:
    const char* name() const noexcept override { return "sockets"; }
    std::string message(int code) const override {
        switch (static_cast<errc>(code)) {
            case errc::end_of_stream: return "peer closed the connection before the transfer completed";
            case errc::not_open: return "socket is not open";
            case errc::invalid_address: return "invalid address";
            case errc::port_out_of_range: return "port out of range (0..65535)";
            case errc::address_too_long: return "Unix-domain path too long";
            case errc::message_too_large: return "message exceeds the size limit";
            case errc::not_stream_socket: return "operation needs a stream socket";
            case errc::datagram_truncated: return "datagram larger than the buffer was truncated";
            case errc::handle_out_of_range: return "handle cannot be used with select (FD_SETSIZE)";
            case errc::already_registered: return "handle is already registered";
            case errc::not_registered: return "handle is not registered";
        }
        return "unknown sockets error";
    }
    std::error_condition default_error_condition(int code) const noexcept override {
        switch (static_cast<errc>(code)) {
            case errc::not_open: return std::errc::bad_file_descriptor;
            case errc::invalid_address:
            case errc::port_out_of_range: return std::errc::invalid_argument;
            case errc::address_too_long: return std::errc::filename_too_long;
            case errc::message_too_large: return std::errc::message_size;
            case errc::not_stream_socket: return std::errc::wrong_protocol_type;
            case errc::already_registered: return std::errc::file_exists;
            case errc::not_registered: return std::errc::no_such_file_or_directory;
            default: return {code, *this};
        }
    }
};

// getaddrinfo's errors are EAI_* codes, not errno values; gai_strerror explains them.
class ResolveCategory final : public std::error_category {
public:
    const char* name() const noexcept override { return "resolve"; }
    std::string message(int code) const override {
#if defined(_WIN32)
        return os_category().message(code);
#else
        return ::gai_strerror(code);
#endif
    }
};

}  // namespace detail

inline const std::error_category& error_category() noexcept {
    static const detail::LibraryCategory category;
    return category;
}

inline const std::error_category& resolve_category() noexcept {
    static const detail::ResolveCategory category;
    return category;
}

inline std::error_code make_error_code(errc e) noexcept {
    return {static_cast<int>(e), error_category()};
}

// Thrown by send_all/recv_exact and friends: the bytes that did move before the error are
// part of the result, never lost.
class TransferError : public std::system_error {
public:
    TransferError(std::error_code ec, const std::string& what, std::size_t bytes)
        : std::system_error(ec, what), bytes_transferred_(bytes) {}
    std::size_t bytes_transferred() const noexcept { return bytes_transferred_; }

private:
    std::size_t bytes_transferred_;
};

namespace detail {

[[noreturn]] inline void throw_error(std::error_code ec, const std::string& what) {
    throw std::system_error(ec, what);
}

inline void throw_if(std::error_code ec, const char* operation) {
    if (ec) throw_error(ec, operation);
}

}  // namespace detail
}  // namespace sockets

namespace std {
template <>
struct is_error_code_enum<sockets::errc> : true_type {};
}  // namespace std
