// Definitions for batch.hpp: inline in header-only mode, compiled once by src/sockets.cpp.
// The batching machinery is used by nothing else, so its helpers live here too.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>
#include <system_error>

#if defined(__linux__)
#include <netinet/udp.h>
#endif

#include "../batch.hpp"
#include "../detail/io.hpp"
#include "../detail/platform.hpp"
#include "../error.hpp"

namespace sockets {
SOCKETS_MODE_NAMESPACE_BEGIN

namespace detail {

// Datagrams per system call: the message headers live on the stack.
inline constexpr std::size_t batch_size = 64;

SOCKETS_DECL bool batch_open(const Socket& s, std::error_code& ec) noexcept {
    ec.clear();
    if (s.is_open()) return true;
    ec = errc::not_open;
    return false;
}

#if defined(__linux__)

#if defined(UDP_SEGMENT)
inline constexpr int udp_segment_option = UDP_SEGMENT;
#else
inline constexpr int udp_segment_option = 103;  // linux/udp.h, Linux 4.18
#endif

// UDP segmentation offload (GSO): one sendmsg carries a run of same-size datagrams to one
// destination and the kernel cuts it at the segment size, so the per-datagram work of the
// stack (socket accounting, routing, skb allocation) is paid once per run, not per datagram.
// The limits are the kernel's, taken conservatively: UDP_MAX_SEGMENTS was 64 before Linux 6.x,
// and the whole run must fit the largest IPv4 UDP payload (IPv6 allows a little more).
inline constexpr std::size_t max_segments = 64;
inline constexpr std::size_t max_segmented_bytes = 65507;

// Socket::segmentation_: asked once per socket, dropped for good when the kernel refuses.
// Relaxed atomics: another thread may send on the same socket (the value only ever settles).
struct Segmentation {
    enum : unsigned char { unknown = 0, usable = 1, refused = 2 };
    static unsigned char get(const Socket& s) noexcept { return __atomic_load_n(&s.segmentation_, __ATOMIC_RELAXED); }
    static void set(Socket& s, unsigned char state) noexcept {
        __atomic_store_n(&s.segmentation_, state, __ATOMIC_RELAXED);
    }
    // Only UDP sockets of a kernel that knows UDP_SEGMENT (4.18+) answer the getsockopt; a
    // Unix-domain, raw or ICMP datagram socket, or an older kernel, would ignore the control
    // message and send the whole run as one datagram, so the answer must come first.
    static bool usable_on(Socket& s) noexcept {
        unsigned char state = get(s);
        if (state == unknown) {
            int size = 0;
            socklen len = sizeof size;
            state = ::getsockopt(s.native_handle(), IPPROTO_UDP, udp_segment_option, &size, &len) == 0 ? usable
                                                                                                       : refused;
            set(s, state);
        }
        return state == usable;
    }
};

SOCKETS_DECL bool same_destination(const OutgoingDatagram& a, const OutgoingDatagram& b) noexcept {
    return a.to == b.to || (a.to && b.to && *a.to == *b.to);
}

// Whether next can follow first in one segmented run of total bytes so far: same destination,
// not larger (a shorter one ends the run), not empty, and the run still fits one UDP payload.
SOCKETS_DECL bool joins_run(const OutgoingDatagram& first, const OutgoingDatagram& next, std::size_t total) noexcept {
    const std::size_t size = next.data.size;
    return size > 0 && size <= first.data.size && total + size <= max_segmented_bytes &&
           same_destination(first, next);
}

// How many datagrams from d on form one segmented run (1: none).
SOCKETS_DECL std::size_t segment_run(const OutgoingDatagram* d, std::size_t count) noexcept {
    std::size_t n = 1, total = d[0].data.size;
    while (n < count && n < max_segments && joins_run(d[0], d[n], total)) {
        total += d[n].data.size;
        if (d[n++].data.size < d[0].data.size) break;
    }
    return n;
}

SOCKETS_DECL bool starts_run(const OutgoingDatagram* d, std::size_t count) noexcept {
    return count >= 2 && joins_run(d[0], d[1], d[0].data.size);
}

// Errors after which the run goes again one datagram at a time: the kernel would not segment
// it (no offload on the route: EIO; segment larger than the path allows: EINVAL, EMSGSIZE;
// too big an allocation), and the datagram-by-datagram path reports exactly what it would
// have. Errors that a send reports for the socket (ECONNREFUSED, ...) are not among them.
SOCKETS_DECL bool segmentation_failed(int code) noexcept {
    return code == EIO || code == EINVAL || code == EMSGSIZE || code == ENOPROTOOPT || code == EOPNOTSUPP ||
           code == ENOBUFS || code == ENOMEM;
}
// ... and of those, the ones that say "never on this socket".
SOCKETS_DECL bool segmentation_refused(int code) noexcept {
    return code == EIO || code == ENOPROTOOPT || code == EOPNOTSUPP;
}

// One sendmsg for the run, cut by the kernel at the first datagram's size: all or nothing.
// Returns 0 or the error code.
SOCKETS_DECL int send_segmented(native_handle_type h, const OutgoingDatagram* d, std::size_t n, int flags) noexcept {
    ::iovec pieces[max_segments];
    for (std::size_t i = 0; i < n; ++i) pieces[i] = ::iovec{const_cast<void*>(d[i].data.data), d[i].data.size};
    alignas(::cmsghdr) char control[CMSG_SPACE(sizeof(std::uint16_t))] = {};
    ::msghdr message{};
    message.msg_name = d->to ? const_cast<sockaddr*>(d->to->data()) : nullptr;
    message.msg_namelen = d->to ? d->to->size() : 0;
    message.msg_iov = pieces;
    message.msg_iovlen = n;
    message.msg_control = control;
    message.msg_controllen = sizeof control;
    ::cmsghdr* segment = CMSG_FIRSTHDR(&message);
    segment->cmsg_level = IPPROTO_UDP;
    segment->cmsg_type = udp_segment_option;
    segment->cmsg_len = CMSG_LEN(sizeof(std::uint16_t));
    const auto size = static_cast<std::uint16_t>(d->data.size);
    std::memcpy(CMSG_DATA(segment), &size, sizeof size);
    return ::sendmsg(h, &message, flags) < 0 ? last_error_code() : 0;
}

// How many datagrams from d on go by one sendmmsg: up to where a segmented run starts.
SOCKETS_DECL std::size_t plain_count(Socket& s, const OutgoingDatagram* d, std::size_t count) noexcept {
    std::size_t n = 1;
    while (n < count && n < batch_size && !(starts_run(d + n, count - n) && Segmentation::usable_on(s))) ++n;
    return n;
}

// Runs of same-size datagrams to one destination go by segmentation offload, the rest (and a
// run the kernel would not segment) by sendmmsg, in order.
SOCKETS_DECL std::size_t send_many_until(Socket& s, const OutgoingDatagram* datagrams, std::size_t count,
                                   Deadline deadline, std::error_code& ec) noexcept {
    if (!batch_open(s, ec) || !prepare_nonwaiting(s.native_handle(), deadline, ec)) return 0;
    Retry retry(s.native_handle(), true, deadline);
    std::size_t done = 0;
    std::size_t plain_until = 0;  // a run the kernel would not segment goes by sendmmsg up to here
    while (done < count) {
        const OutgoingDatagram* rest = datagrams + done;
        if (done >= plain_until && starts_run(rest, count - done) && Segmentation::usable_on(s)) {
            const std::size_t run = segment_run(rest, count - done);
            int code = send_segmented(s.native_handle(), rest, run, retry.flags() | send_flags);
            if (code == 0) {
                retry.progressed();
                done += run;
                continue;
            }
            if (segmentation_failed(code)) {
                if (segmentation_refused(code)) Segmentation::set(s, Segmentation::refused);
                plain_until = done + run;
                continue;
            }
            if (retry.again(code, ec)) continue;
            if (!ec) ec = os_error(code);
            break;
        }
        ::mmsghdr messages[batch_size];
        ::iovec pieces[batch_size];
        const std::size_t n = done < plain_until ? (plain_until - done < batch_size ? plain_until - done : batch_size)
                                                 : plain_count(s, rest, count - done);
        for (std::size_t i = 0; i < n; ++i) {
            const OutgoingDatagram& d = rest[i];
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
            retry.progressed();
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
SOCKETS_DECL std::size_t recv_many_until(Socket& s, IncomingDatagram* datagrams, std::size_t count,
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
            retry.progressed();
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

SOCKETS_DECL std::size_t send_many_until(Socket& s, const OutgoingDatagram* datagrams, std::size_t count,
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

SOCKETS_DECL std::size_t recv_many_until(Socket& s, IncomingDatagram* datagrams, std::size_t count,
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

// Names the operation and, where known, the address: the destination, else the peer, else
// the socket's own.
SOCKETS_DECL std::string batch_what(const Socket& s, const char* operation, const Address* to) {
    return to ? describe(operation, *to) : describe_transfer(s, operation);
}

}  // namespace detail

SOCKETS_DECL std::size_t send_many(Socket& s, const OutgoingDatagram* datagrams, std::size_t count,
                                   std::error_code& ec) noexcept {
    return detail::send_many_until(s, datagrams, count, detail::Deadline(), ec);
}
SOCKETS_DECL std::size_t send_many(Socket& s, const OutgoingDatagram* datagrams, std::size_t count, Timeout timeout,
                                   std::error_code& ec) noexcept {
    return detail::send_many_until(s, datagrams, count, detail::Deadline(timeout), ec);
}
SOCKETS_DECL std::size_t recv_many(Socket& s, IncomingDatagram* datagrams, std::size_t count,
                                   std::error_code& ec) noexcept {
    return detail::recv_many_until(s, datagrams, count, detail::Deadline(), ec);
}
SOCKETS_DECL std::size_t recv_many(Socket& s, IncomingDatagram* datagrams, std::size_t count, Timeout timeout,
                                   std::error_code& ec) noexcept {
    return detail::recv_many_until(s, datagrams, count, detail::Deadline(timeout), ec);
}

#if !defined(SOCKETS_NO_EXCEPTIONS)
SOCKETS_DECL std::size_t send_many(Socket& s, const OutgoingDatagram* datagrams, std::size_t count) {
    std::error_code ec;
    std::size_t n = send_many(s, datagrams, count, ec);
    if (ec) throw_exception(TransferError(ec, detail::batch_what(s, "send_many", n < count ? datagrams[n].to : nullptr), n));
    return n;
}
SOCKETS_DECL std::size_t send_many(Socket& s, const OutgoingDatagram* datagrams, std::size_t count, Timeout timeout) {
    std::error_code ec;
    std::size_t n = send_many(s, datagrams, count, timeout, ec);
    if (ec) throw_exception(TransferError(ec, detail::batch_what(s, "send_many", n < count ? datagrams[n].to : nullptr), n));
    return n;
}
SOCKETS_DECL std::size_t recv_many(Socket& s, IncomingDatagram* datagrams, std::size_t count) {
    std::error_code ec;
    std::size_t n = recv_many(s, datagrams, count, ec);
    if (ec) throw_exception(TransferError(ec, detail::batch_what(s, "recv_many", nullptr), n));
    return n;
}
SOCKETS_DECL std::size_t recv_many(Socket& s, IncomingDatagram* datagrams, std::size_t count, Timeout timeout) {
    std::error_code ec;
    std::size_t n = recv_many(s, datagrams, count, timeout, ec);
    if (ec) throw_exception(TransferError(ec, detail::batch_what(s, "recv_many", nullptr), n));
    return n;
}
#endif

SOCKETS_DECL std::vector<IncomingDatagram> make_receive_slots(MutableBuffer buffer, std::size_t count,
                                                              std::size_t slot_size) {
    if (slot_size == 0)  // every datagram but an empty one would arrive truncated to nothing
        detail::throw_error(std::make_error_code(std::errc::invalid_argument),
                            "make_receive_slots: slots of 0 bytes hold no datagram");
    // Divided, not multiplied: count * slot_size may wrap.
    if (count != 0 && buffer.size / slot_size < count)
        detail::throw_error(std::make_error_code(std::errc::invalid_argument),
                            "make_receive_slots: " + std::to_string(count) + " slots of " + std::to_string(slot_size) +
                                " bytes do not fit a buffer of " + std::to_string(buffer.size));
    std::vector<IncomingDatagram> slots(count);
    for (std::size_t i = 0; i < count; ++i)
        slots[i].buffer = MutableBuffer(static_cast<char*>(buffer.data) + i * slot_size, slot_size);
    return slots;
}

SOCKETS_DECL ReceiveSlots::ReceiveSlots(std::size_t count, std::size_t slot_size) : slot_size_(slot_size) {
    if (slot_size != 0 && count > static_cast<std::size_t>(-1) / slot_size)
        detail::throw_error(std::make_error_code(std::errc::invalid_argument), "ReceiveSlots: too large");
    storage_.resize(count * slot_size);
    slots_ = make_receive_slots(MutableBuffer(storage_.data(), storage_.size()), count, slot_size);
}

SOCKETS_MODE_NAMESPACE_END
}  // namespace sockets
