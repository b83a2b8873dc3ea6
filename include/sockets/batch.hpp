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
#include <initializer_list>
#include <string_view>
#include <system_error>
#include <type_traits>
#include <utility>
#include <vector>

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
    /// The bytes that landed, as a view into buffer.
    std::string_view received() const noexcept { return {static_cast<const char*>(buffer.data), size}; }
};

namespace detail {
// A contiguous range (std::vector, std::array, ReceiveSlots) whose data() converts to Element*.
template <class Range, class Element, class = void>
struct is_range_of : std::false_type {};
template <class Range, class Element>
struct is_range_of<Range, Element,
                   std::void_t<decltype(std::declval<Range&>().data()), decltype(std::declval<Range&>().size())>>
    : std::is_convertible<decltype(std::declval<Range&>().data()), Element*> {};
template <class Range, class Element>
using if_range_of = std::enable_if_t<is_range_of<Range, Element>::value>;
}  // namespace detail

/// Carves one buffer into count receive slots of slot_size bytes each, for recv_many: slot i
/// is bytes [i * slot_size, (i + 1) * slot_size) of buffer. The buffer must outlive the slots.
/// Slots that do not fit the buffer, and slots of 0 bytes (they would truncate every datagram
/// to nothing), are a programmer error, reported through
/// sockets::throw_exception (std::errc::invalid_argument) as a call without an error_code form.
SOCKETS_DECL std::vector<IncomingDatagram> make_receive_slots(MutableBuffer buffer, std::size_t count,
                                                              std::size_t slot_size);

/// count receive slots of slot_size bytes in one allocation, ready for recv_many:
/// @code
///   ReceiveSlots slots(64, 2048);
///   std::size_t n = recv_many(udp, slots, 1s);
///   for (std::size_t i = 0; i < n; ++i) use(slots[i].received(), slots[i].sender);
/// @endcode
/// Move-only (a copy would point into the original's memory); the slots stay valid across moves.
class ReceiveSlots {
public:
    /// count slots of slot_size bytes each (slot_size 0: as make_receive_slots).
    ReceiveSlots(std::size_t count, std::size_t slot_size);
    /// Moves the slots and their memory (the slots keep pointing at it).
    ///@{
    ReceiveSlots(ReceiveSlots&&) noexcept = default;
    ReceiveSlots& operator=(ReceiveSlots&&) noexcept = default;
    ///@}
    ReceiveSlots(const ReceiveSlots&) = delete;
    ReceiveSlots& operator=(const ReceiveSlots&) = delete;

    /// The slots, as recv_many fills them.
    ///@{
    IncomingDatagram* data() noexcept { return slots_.data(); }
    const IncomingDatagram* data() const noexcept { return slots_.data(); }
    std::size_t size() const noexcept { return slots_.size(); }
    IncomingDatagram& operator[](std::size_t i) noexcept { return slots_[i]; }
    const IncomingDatagram& operator[](std::size_t i) const noexcept { return slots_[i]; }
    IncomingDatagram* begin() noexcept { return slots_.data(); }
    IncomingDatagram* end() noexcept { return slots_.data() + slots_.size(); }
    const IncomingDatagram* begin() const noexcept { return slots_.data(); }
    const IncomingDatagram* end() const noexcept { return slots_.data() + slots_.size(); }
    ///@}
    /// The room of each slot, in bytes.
    std::size_t slot_size() const noexcept { return slot_size_; }

private:
    std::vector<char> storage_;
    std::vector<IncomingDatagram> slots_;
    std::size_t slot_size_;
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
[[nodiscard]] SOCKETS_DECL std::size_t recv_many(Socket& s, IncomingDatagram* datagrams, std::size_t count,
                                   std::error_code& ec) noexcept;
#if !defined(SOCKETS_NO_EXCEPTIONS)
[[nodiscard]] SOCKETS_DECL std::size_t recv_many(Socket& s, IncomingDatagram* datagrams, std::size_t count);
#endif
///@}
/// Waits at most timeout for the first datagram (std::errc::timed_out, 0 received).
///@{
[[nodiscard]] SOCKETS_DECL std::size_t recv_many(Socket& s, IncomingDatagram* datagrams, std::size_t count, Timeout timeout,
                                   std::error_code& ec) noexcept;
#if !defined(SOCKETS_NO_EXCEPTIONS)
[[nodiscard]] SOCKETS_DECL std::size_t recv_many(Socket& s, IncomingDatagram* datagrams, std::size_t count, Timeout timeout);
#endif
///@}

/// send_many and recv_many over a container: a std::vector or std::array of datagrams, a
/// ReceiveSlots, a braced list (`send_many(udp, {{"a", &to}, {"b", &to}})`). The same
/// results and errors as the (pointer, count) forms.
///@{
template <class Datagrams, class = detail::if_range_of<const Datagrams, const OutgoingDatagram>>
std::size_t send_many(Socket& s, const Datagrams& datagrams, std::error_code& ec) noexcept {
    return send_many(s, datagrams.data(), datagrams.size(), ec);
}
template <class Datagrams, class = detail::if_range_of<const Datagrams, const OutgoingDatagram>>
std::size_t send_many(Socket& s, const Datagrams& datagrams, Timeout timeout, std::error_code& ec) noexcept {
    return send_many(s, datagrams.data(), datagrams.size(), timeout, ec);
}
inline std::size_t send_many(Socket& s, std::initializer_list<OutgoingDatagram> datagrams, std::error_code& ec) noexcept {
    return send_many(s, datagrams.begin(), datagrams.size(), ec);
}
inline std::size_t send_many(Socket& s, std::initializer_list<OutgoingDatagram> datagrams, Timeout timeout,
                             std::error_code& ec) noexcept {
    return send_many(s, datagrams.begin(), datagrams.size(), timeout, ec);
}
template <class Datagrams, class = detail::if_range_of<Datagrams, IncomingDatagram>>
[[nodiscard]] std::size_t recv_many(Socket& s, Datagrams& datagrams, std::error_code& ec) noexcept {
    return recv_many(s, datagrams.data(), datagrams.size(), ec);
}
template <class Datagrams, class = detail::if_range_of<Datagrams, IncomingDatagram>>
[[nodiscard]] std::size_t recv_many(Socket& s, Datagrams& datagrams, Timeout timeout, std::error_code& ec) noexcept {
    return recv_many(s, datagrams.data(), datagrams.size(), timeout, ec);
}
#if !defined(SOCKETS_NO_EXCEPTIONS)
template <class Datagrams, class = detail::if_range_of<const Datagrams, const OutgoingDatagram>>
std::size_t send_many(Socket& s, const Datagrams& datagrams) {
    return send_many(s, datagrams.data(), datagrams.size());
}
template <class Datagrams, class = detail::if_range_of<const Datagrams, const OutgoingDatagram>>
std::size_t send_many(Socket& s, const Datagrams& datagrams, Timeout timeout) {
    return send_many(s, datagrams.data(), datagrams.size(), timeout);
}
inline std::size_t send_many(Socket& s, std::initializer_list<OutgoingDatagram> datagrams) {
    return send_many(s, datagrams.begin(), datagrams.size());
}
inline std::size_t send_many(Socket& s, std::initializer_list<OutgoingDatagram> datagrams, Timeout timeout) {
    return send_many(s, datagrams.begin(), datagrams.size(), timeout);
}
template <class Datagrams, class = detail::if_range_of<Datagrams, IncomingDatagram>>
[[nodiscard]] std::size_t recv_many(Socket& s, Datagrams& datagrams) {
    return recv_many(s, datagrams.data(), datagrams.size());
}
template <class Datagrams, class = detail::if_range_of<Datagrams, IncomingDatagram>>
[[nodiscard]] std::size_t recv_many(Socket& s, Datagrams& datagrams, Timeout timeout) {
    return recv_many(s, datagrams.data(), datagrams.size(), timeout);
}
#endif
///@}

SOCKETS_MODE_NAMESPACE_END
}  // namespace sockets

#if !defined(SOCKETS_SEPARATE_COMPILATION)
#include "impl/batch.ipp"
#endif
