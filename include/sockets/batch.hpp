/// @file
/// Batched datagrams: send_many / recv_many move many datagrams in one system call
/// (sendmmsg / recvmmsg on Linux; elsewhere one call per datagram, with the same results).
///
/// Same rules as the rest of the library (detail/io.hpp): plain calls complete or fail, a
/// Timeout bounds the whole batch (timed calls never block inside the kernel), every call has
/// a throwing form and one taking std::error_code& last. A partial batch is reported exactly:
/// the result counts the datagrams that went out (or came in) before an error, also when ec is
/// set; the throwing forms carry that count in TransferError::bytes_transferred() (a count of
/// datagrams here, not bytes).
#pragma once

#include <cstddef>
#include <string>
#include <system_error>

#include "detail/io.hpp"
#include "detail/platform.hpp"
#include "error.hpp"
#include "socket.hpp"
#include "timeout.hpp"

namespace sockets {

/// One datagram to send: its bytes and where to (nullptr: the connected peer).
struct OutgoingDatagram {
    /// The datagram, sent whole or not at all.
    ConstBuffer data;
    /// The destination; nullptr on a connected socket.
    const Address* to = nullptr;
};

/// Room for one datagram; recv_many fills size, sender and truncated.
struct IncomingDatagram {
    /// Where the datagram lands.
    MutableBuffer buffer;
    /// Bytes that landed in buffer.
    std::size_t size = 0;
    /// Who sent it.
    Address sender;
    /// True if it was larger than buffer (the rest of it is lost): reported per datagram, not
    /// as an error, as recv_from does.
    bool truncated = false;
};

namespace detail {

// Datagrams per system call: the message headers live on the stack.
inline constexpr std::size_t batch_size = 64;

inline bool batch_open(const Socket& s, std::error_code& ec) noexcept {
    ec.clear();
    if (s.is_open()) return true;
    ec = errc::not_open;
    return false;
}

#if defined(__linux__)

inline std::size_t send_many_until(Socket& s, const OutgoingDatagram* datagrams, std::size_t count,
                                   Deadline deadline, std::error_code& ec) noexcept {
    if (!batch_open(s, ec) || !prepare_nonwaiting(s.native_handle(), deadline, ec)) return 0;
    Retry retry(s.native_handle(), true, deadline);
    std::size_t done = 0;
    while (done < count) {
        ::mmsghdr messages[batch_size];
        ::iovec pieces[batch_size];
        const std::size_t n = count - done < batch_size ? count - done : batch_size;
        for (std::size_t i = 0; i < n; ++i) {
            const OutgoingDatagram& d = datagrams[done + i];
            pieces[i] = ::iovec{const_cast<void*>(d.data.data), d.data.size};
            messages[i] = ::mmsghdr{};
            messages[i].msg_hdr.msg_name = d.to ? const_cast<sockaddr*>(d.to->data()) : nullptr;
            messages[i].msg_hdr.msg_namelen = d.to ? d.to->size() : 0;
            messages[i].msg_hdr.msg_iov = &pieces[i];
            messages[i].msg_hdr.msg_iovlen = 1;
        }
        // Stops at the first datagram that fails, returning the count before it; that
        // datagram's error comes from the next call, which starts with it.
        int sent = ::sendmmsg(s.native_handle(), messages, static_cast<unsigned>(n), retry.flags() | send_flags);
        if (sent > 0) {
            done += static_cast<std::size_t>(sent);
            continue;
        }
        int code = sent == 0 ? EIO : last_error_code();  // 0 of n > 0: never seen; don't spin
        if (retry.again(code, ec)) continue;
        if (!ec) ec = os_error(code);
        break;
    }
    return done;
}

// The first call waits as the time rule says (MSG_WAITFORONE: then no more waiting); later
// calls, for a batch larger than one call takes, only collect what is already queued.
inline std::size_t recv_many_until(Socket& s, IncomingDatagram* datagrams, std::size_t count,
                                   Deadline deadline, std::error_code& ec) noexcept {
    if (!batch_open(s, ec) || !prepare_nonwaiting(s.native_handle(), deadline, ec)) return 0;
    Retry retry(s.native_handle(), false, deadline);
    bool first = true;  // until a datagram arrives: wait as the time rule says
    std::size_t done = 0;
    while (done < count) {
        ::mmsghdr messages[batch_size];
        ::iovec pieces[batch_size];
        const std::size_t n = count - done < batch_size ? count - done : batch_size;
        for (std::size_t i = 0; i < n; ++i) {
            IncomingDatagram& d = datagrams[done + i];
            pieces[i] = ::iovec{d.buffer.data, d.buffer.size};
            messages[i] = ::mmsghdr{};
            messages[i].msg_hdr.msg_name = d.sender.data();
            messages[i].msg_hdr.msg_namelen = Address::capacity();
            messages[i].msg_hdr.msg_iov = &pieces[i];
            messages[i].msg_hdr.msg_iovlen = 1;
        }
        int flags = first ? (retry.flags() ? retry.flags() : MSG_WAITFORONE) : dontwait_flag;
        int got = ::recvmmsg(s.native_handle(), messages, static_cast<unsigned>(n), flags, nullptr);
        if (got > 0) {
            for (std::size_t i = 0; i < static_cast<std::size_t>(got); ++i) {
                IncomingDatagram& d = datagrams[done + i];
                d.size = messages[i].msg_len;
                d.sender.resize(messages[i].msg_hdr.msg_namelen);
                d.truncated = (messages[i].msg_hdr.msg_flags & MSG_TRUNC) != 0;
            }
            done += static_cast<std::size_t>(got);
            if (static_cast<std::size_t>(got) < n) break;  // the queue is empty
            first = false;
            continue;
        }
        int code = got == 0 ? EIO : last_error_code();
        if (done > 0 && is_would_block(code)) break;  // took what was queued
        if (retry.again(code, ec)) continue;
        if (!ec) ec = os_error(code);
        break;
    }
    return done;
}

#else  // one call per datagram, through Socket's own calls (same time rule, same errors)

inline std::size_t send_many_until(Socket& s, const OutgoingDatagram* datagrams, std::size_t count,
                                   Deadline deadline, std::error_code& ec) noexcept {
    if (!batch_open(s, ec)) return 0;
    std::size_t done = 0;
    for (; done < count && !ec; ++done) {
        const OutgoingDatagram& d = datagrams[done];
        if (!deadline.timed()) {
            if (d.to) (void)s.send_to(*d.to, d.data, ec);
            else (void)s.send(d.data, ec);
        } else {
            if (d.to) (void)s.send_to(*d.to, d.data, deadline.remaining(), ec);
            else (void)s.send(d.data, deadline.remaining(), ec);
        }
        if (ec) break;
    }
    return done;
}

inline std::size_t recv_many_until(Socket& s, IncomingDatagram* datagrams, std::size_t count,
                                   Deadline deadline, std::error_code& ec) noexcept {
    if (!batch_open(s, ec)) return 0;
    std::size_t done = 0;
    for (; done < count; ++done) {
        IncomingDatagram& d = datagrams[done];
        Datagram got = done > 0 ? s.recv_from(d.buffer, Timeout::zero(), ec)  // only what is queued
                       : deadline.timed() ? s.recv_from(d.buffer, deadline.remaining(), ec)
                                          : s.recv_from(d.buffer, ec);
        if (ec) {
            if (done > 0 && ec == std::errc::timed_out) ec.clear();
            break;
        }
        d.size = got.size;
        d.sender = got.sender;
        d.truncated = got.truncated;
    }
    return done;
}

#endif

// Names the operation and, where known, the address.
inline std::string batch_what(const Socket& s, const char* operation, const Address* to) {
    std::error_code failed;
    if (to) return describe(operation, *to);
    Address peer = s.peer_address(failed);
    if (!failed) return std::string(operation) + " with " + peer.to_string();
    Address local = s.local_address(failed);
    return failed ? std::string(operation) : describe((std::string(operation) + " on").c_str(), local);
}

}  // namespace detail

/// Sends the datagrams in order, as many per system call as the OS takes (Linux: sendmmsg),
/// until all went out or one fails. Returns how many went out: count, or on error the number
/// sent before the one that failed (e.g. errc::message_size for one too large).
///@{
inline std::size_t send_many(Socket& s, const OutgoingDatagram* datagrams, std::size_t count,
                             std::error_code& ec) noexcept {
    return detail::send_many_until(s, datagrams, count, detail::Deadline(), ec);
}
inline std::size_t send_many(Socket& s, const OutgoingDatagram* datagrams, std::size_t count) {
    std::error_code ec;
    std::size_t n = send_many(s, datagrams, count, ec);
    if (ec) throw TransferError(ec, detail::batch_what(s, "send_many", n < count ? datagrams[n].to : nullptr), n);
    return n;
}
///@}
/// The whole batch must go out within timeout (errc::timed_out, with the count sent).
///@{
inline std::size_t send_many(Socket& s, const OutgoingDatagram* datagrams, std::size_t count, Timeout timeout,
                             std::error_code& ec) noexcept {
    return detail::send_many_until(s, datagrams, count, detail::Deadline(timeout), ec);
}
inline std::size_t send_many(Socket& s, const OutgoingDatagram* datagrams, std::size_t count, Timeout timeout) {
    std::error_code ec;
    std::size_t n = send_many(s, datagrams, count, timeout, ec);
    if (ec) throw TransferError(ec, detail::batch_what(s, "send_many", n < count ? datagrams[n].to : nullptr), n);
    return n;
}
///@}

/// Waits for the first datagram (plain: as the socket's own timeout says), then takes what
/// else is already queued, up to count, without waiting more (Linux: recvmmsg). Returns how
/// many came in; the first that many entries are filled, each with its own size, sender and
/// truncated flag. On an error after some came in, ec is set and they are still counted.
///@{
inline std::size_t recv_many(Socket& s, IncomingDatagram* datagrams, std::size_t count, std::error_code& ec) noexcept {
    return detail::recv_many_until(s, datagrams, count, detail::Deadline(), ec);
}
inline std::size_t recv_many(Socket& s, IncomingDatagram* datagrams, std::size_t count) {
    std::error_code ec;
    std::size_t n = recv_many(s, datagrams, count, ec);
    if (ec) throw TransferError(ec, detail::batch_what(s, "recv_many", nullptr), n);
    return n;
}
///@}
/// Waits at most timeout for the first datagram (errc::timed_out, 0 received).
///@{
inline std::size_t recv_many(Socket& s, IncomingDatagram* datagrams, std::size_t count, Timeout timeout,
                             std::error_code& ec) noexcept {
    return detail::recv_many_until(s, datagrams, count, detail::Deadline(timeout), ec);
}
inline std::size_t recv_many(Socket& s, IncomingDatagram* datagrams, std::size_t count, Timeout timeout) {
    std::error_code ec;
    std::size_t n = recv_many(s, datagrams, count, timeout, ec);
    if (ec) throw TransferError(ec, detail::batch_what(s, "recv_many", nullptr), n);
    return n;
}
///@}

}  // namespace sockets
