/// @file
/// Batched datagrams: send_many / recv_many move many datagrams in one system call
/// (sendmmsg / recvmmsg on Linux; elsewhere one call per datagram, with the same results). On
/// Linux, send_many also hands a run of same-size datagrams to one destination to the kernel
/// as one UDP segmentation offload send (UDP_SEGMENT), which shares the per-datagram work of
/// the stack; the receiver still sees separate datagrams.
///
/// Same rules as the rest of the library (detail/io.hpp): plain calls complete or fail, a
/// Timeout bounds the whole batch (timed calls never block inside the kernel), every call has
/// a throwing form and one taking std::error_code& last. A partial batch is reported exactly:
/// the result counts the datagrams that went out (or came in) before an error, also when ec is
/// set; the throwing forms carry that count in TransferError::bytes_transferred() (a count of
/// datagrams here, not bytes).
#pragma once

#include <cstddef>
#include <system_error>

#include "config.hpp"
#include "address.hpp"
#include "socket.hpp"
#include "timeout.hpp"

namespace sockets {
SOCKETS_MODE_NAMESPACE_BEGIN

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

/// Sends the datagrams in order, as many per system call as the OS takes (Linux: sendmmsg),
/// until all went out or one fails. Returns how many went out: count, or on error the number
/// sent before the one that failed (e.g. std::errc::message_size for one too large).
/// Linux, UDP: consecutive datagrams of the same size to the same destination (the same `to`
/// pointer, an equal address, or all nullptr), the last possibly shorter but not empty, 2 to
/// 64 of them and at most 65507 bytes in all, go as one segmented send (UDP_SEGMENT): much
/// cheaper, all or nothing, with the same results; where the kernel will not segment them they
/// go by sendmmsg.
///@{
SOCKETS_DECL std::size_t send_many(Socket& s, const OutgoingDatagram* datagrams, std::size_t count,
                                   std::error_code& ec) noexcept;
#if !defined(SOCKETS_NO_EXCEPTIONS)
SOCKETS_DECL std::size_t send_many(Socket& s, const OutgoingDatagram* datagrams, std::size_t count);
#endif
///@}
/// The whole batch must go out within timeout (std::errc::timed_out, with the count sent).
///@{
SOCKETS_DECL std::size_t send_many(Socket& s, const OutgoingDatagram* datagrams, std::size_t count, Timeout timeout,
                                   std::error_code& ec) noexcept;
#if !defined(SOCKETS_NO_EXCEPTIONS)
SOCKETS_DECL std::size_t send_many(Socket& s, const OutgoingDatagram* datagrams, std::size_t count, Timeout timeout);
#endif
///@}

/// Waits for the first datagram (plain: as the socket's own timeout says), then takes what
/// else is already queued, up to count, without waiting more (Linux: recvmmsg). Returns how
/// many came in; the first that many entries are filled, each with its own size, sender and
/// truncated flag. On an error after some came in, ec is set and they are still counted.
///@{
SOCKETS_DECL std::size_t recv_many(Socket& s, IncomingDatagram* datagrams, std::size_t count,
                                   std::error_code& ec) noexcept;
#if !defined(SOCKETS_NO_EXCEPTIONS)
SOCKETS_DECL std::size_t recv_many(Socket& s, IncomingDatagram* datagrams, std::size_t count);
#endif
///@}
/// Waits at most timeout for the first datagram (std::errc::timed_out, 0 received).
///@{
SOCKETS_DECL std::size_t recv_many(Socket& s, IncomingDatagram* datagrams, std::size_t count, Timeout timeout,
                                   std::error_code& ec) noexcept;
#if !defined(SOCKETS_NO_EXCEPTIONS)
SOCKETS_DECL std::size_t recv_many(Socket& s, IncomingDatagram* datagrams, std::size_t count, Timeout timeout);
#endif
///@}

SOCKETS_MODE_NAMESPACE_END
}  // namespace sockets

#if !defined(SOCKETS_SEPARATE_COMPILATION)
#include "impl/batch.ipp"
#endif
