/// @file
/// Messages on top of a byte stream: TCP delivers bytes, not messages, so a protocol needs a
/// length prefix or a delimiter (the HOWTO's advice). The layers, each usable alone:
///
/// @verbatim
///   MessageBuffer   bytes in, whole messages out; no I/O at all (feed it from any event loop)
///   StreamReader    a MessageBuffer over a Socket (BasicStreamReader: over any byte stream):
///                   reads big chunks, hands out many small messages per system call;
///                   blocking, with a deadline, or non-blocking with fill()
///   send_message    a length prefix and the payload in one gather write (MessageWriter: many)
///   OutputBuffer    lines, messages and bytes queued, sent by try_flush without ever blocking
///                   (for event loops: call it again when the stream is writable)
/// @endverbatim
///
/// @code
///   send_message(client, "hello");                  // 00 00 00 05 h e l l o, one sendmsg
///   StreamReader reader(server);                    // borrows server: not copyable or movable
///   std::string_view m = reader.read_message();     // "hello"
///   std::string_view line = reader.read_line(5s);   // up to "\n" or "\r\n", without it
/// @endcode
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <new>
#include <optional>
#include <string>
#include <string_view>
#include <system_error>
#include <type_traits>
#include <utility>
#include <vector>

#include "config.hpp"
#include "byte_order.hpp"
#include "error.hpp"
#include "socket.hpp"
#include "timeout.hpp"

namespace sockets {
SOCKETS_MODE_NAMESPACE_BEGIN

/// Width of the big-endian length prefix.
enum class Prefix : std::uint8_t { u16 = 2, u32 = 4, u64 = 8 };

namespace detail {

// The one encoder of the length prefix, for send_message and MessageWriter: writes size
// big-endian into header (room for 8 bytes) and returns the prefix width, or 0 with
// errc::message_too_large when size does not fit the width.
inline std::size_t encode_prefix(unsigned char* header, Prefix prefix, std::size_t size, std::error_code& ec) {
    const std::size_t width = static_cast<std::size_t>(prefix);
    if (width < 8 && static_cast<std::uint64_t>(size) >> (8 * width) != 0) {
        ec = errc::message_too_large;
        return 0;
    }
    if (prefix == Prefix::u16) store_be(header, static_cast<std::uint16_t>(size));
    if (prefix == Prefix::u32) store_be(header, static_cast<std::uint32_t>(size));
    if (prefix == Prefix::u64) store_be(header, static_cast<std::uint64_t>(size));
    return width;
}

// a + b, or SIZE_MAX where that would wrap: a limit of SIZE_MAX ("no limit") plus the room a
// frame needs beyond it must stay "no limit", not become a handful of bytes.
constexpr std::size_t saturating_add(std::size_t a, std::size_t b) noexcept {
    return a > static_cast<std::size_t>(-1) - b ? static_cast<std::size_t>(-1) : a + b;
}

// An owned char array: std::unique_ptr<char[]> without <memory>, which would add a tenth to
// the compile time of every file including the umbrella header (docs/performance.md).
class OwnedBytes {
public:
    OwnedBytes() noexcept = default;
    explicit OwnedBytes(std::size_t size) : bytes_(new char[size]) {}
    OwnedBytes(OwnedBytes&& other) noexcept : bytes_(std::exchange(other.bytes_, nullptr)) {}
    OwnedBytes& operator=(OwnedBytes&& other) noexcept {
        if (this != &other) {
            delete[] bytes_;
            bytes_ = std::exchange(other.bytes_, nullptr);
        }
        return *this;
    }
    ~OwnedBytes() { delete[] bytes_; }
    char* get() const noexcept { return bytes_; }

private:
    char* bytes_ = nullptr;
};

}  // namespace detail

/// Default ceiling for one message or line: large enough for real payloads, small enough that a
/// hostile 0xFFFFFFFF prefix cannot make the reader allocate gigabytes.
inline constexpr std::size_t default_max_message = 16u << 20;

/// What a reader's buffer may hold beyond its limit: the widest length prefix, or a line ending
/// ("\r\n"). Only a line delimiter of 8 bytes or more needs more: its length + 1.
inline constexpr std::size_t max_frame_overhead = 8;

/// Where a line ends: an exact delimiter ("\r\n", "--", std::string_view("\0", 1)), or
/// Delimiter::lf_or_crlf(), the default of every line reader: "\n", and one "\r" right before
/// it is part of the ending too (text protocols: HTTP, SMTP, Redis, and files from Windows).
class Delimiter {
public:
    /// An exact delimiter, implicitly from text.
    ///@{
    constexpr Delimiter(const char* text) noexcept : text_(text) {}  // NOLINT: implicit on purpose
    constexpr Delimiter(std::string_view text) noexcept : text_(text) {}  // NOLINT
    Delimiter(const std::string& text) noexcept : text_(text) {}  // NOLINT
    ///@}
    /// The default of every line reader: "\n", or "\r\n" (the CR is stripped).
    static constexpr Delimiter lf_or_crlf() noexcept { return Delimiter(std::string_view("\n"), true); }

    /// The exact text searched for.
    constexpr std::string_view text() const noexcept { return text_; }
    /// True for lf_or_crlf(): a CR right before the LF is part of the ending.
    constexpr bool strips_cr() const noexcept { return strip_cr_; }
    /// The longest ending: what a buffer needs beyond the line itself.
    constexpr std::size_t max_size() const noexcept { return text_.size() + (strip_cr_ ? 1 : 0); }

private:
    constexpr Delimiter(std::string_view text, bool strip_cr) noexcept : text_(text), strip_cr_(strip_cr) {}
    std::string_view text_;
    bool strip_cr_ = false;
};

/// Bytes in, whole messages out; no I/O at all (feed it from any event loop).
class MessageBuffer {
public:
    /// An empty buffer; max_message limits one message or line (SIZE_MAX: no limit).
    explicit MessageBuffer(std::size_t max_message = default_max_message) : max_message_(max_message) {}
    /// Takes other's bytes; other is left empty, with its limit, and usable.
    ///@{
    MessageBuffer(MessageBuffer&& other) noexcept;
    MessageBuffer& operator=(MessageBuffer&& other) noexcept;
    ///@}
    MessageBuffer(const MessageBuffer&) = delete;
    MessageBuffer& operator=(const MessageBuffer&) = delete;

    /// Appends bytes that arrived.
    void feed(const void* data, std::size_t size) {
        if (size == 0) return;
        make_room(size);
        std::memcpy(bytes_.get() + end_, data, size);
        end_ += size;
    }

    /// The next whole length-prefixed message, or std::nullopt if more bytes are needed.
    /// A prefix above the limit sets errc::message_too_large and consumes nothing: the stream
    /// cannot be resynchronised, so every later call reports it again (close the connection).
    /// The view stays valid until the buffer is next fed or read.
    [[nodiscard]] std::optional<std::string_view> next_message(std::error_code& ec, Prefix prefix = Prefix::u32);

    /// The next line without its ending, or std::nullopt if the ending has not arrived. The
    /// limit counts the line alone; a line longer than that is errc::message_too_large, as soon
    /// as the buffer holds more than the limit plus an ending without one in sight.
    [[nodiscard]] std::optional<std::string_view> next_line(std::error_code& ec,
                                                            Delimiter delimiter = Delimiter::lf_or_crlf());

    /// Everything received and not yet handed out (e.g. a partial message after the peer closed,
    /// or the start of a body when a protocol switches from lines to lengths).
    std::string_view buffered() const noexcept {
        return std::string_view(bytes_.get() + begin_, end_ - begin_);
    }
    /// The number of bytes in buffered().
    std::size_t size() const noexcept { return end_ - begin_; }
    /// Drops the first n buffered bytes (all of them if there are fewer).
    void consume(std::size_t n) noexcept {
        begin_ += n < size() ? n : size();
        searched_ = 0;
        if (begin_ == end_) begin_ = end_ = 0;
    }
    /// The limit for one message or line.
    std::size_t max_message() const noexcept { return max_message_; }
    /// Bytes allocated: grows on demand, never preallocated at the limit.
    std::size_t capacity() const noexcept { return capacity_; }

    /// Room for at least n more bytes at the end; for reading straight into the buffer. Room
    /// that cannot be had (memory, or more than a size_t counts) is std::bad_alloc, as new.
    char* prepare(std::size_t n) {
        make_room(n);
        return bytes_.get() + end_;
    }
    /// Counts n bytes written into the room prepare() gave as received.
    void commit(std::size_t n) noexcept { end_ += n; }

private:
    // Grows by doubling up to the limit plus max_frame_overhead, then only to what is needed,
    // so a reader that never asks for more than its limit holds no more than that. Inline,
    // growth included: with the growth out of line g++ -O3 stopped inlining read_message into
    // the caller's loop (about 45 more instructions per message read, in compiled mode).
    void make_room(std::size_t n) {
        if (capacity_ - end_ >= n) return;
        if (begin_ > 0) {  // slide the unread bytes to the front before growing
            std::memmove(bytes_.get(), bytes_.get() + begin_, end_ - begin_);
            end_ -= begin_;
            begin_ = 0;
        }
        if (capacity_ - end_ >= n) return;
        // end_ + n would wrap to a small size, and prepare would hand out room it does not have.
        if (n > static_cast<std::size_t>(-1) - end_) throw_exception(std::bad_alloc());
        const std::size_t needed = end_ + n;
        const std::size_t ceiling = detail::saturating_add(max_message_, max_frame_overhead);
        std::size_t grown = capacity_ < ceiling / 2 ? capacity_ * 2 : ceiling;
        if (grown < needed) grown = needed;
        detail::OwnedBytes bigger(grown);
        if (end_) std::memcpy(bigger.get(), bytes_.get(), end_);
        bytes_ = std::move(bigger);
        capacity_ = grown;
    }

    detail::OwnedBytes bytes_;
    std::size_t capacity_ = 0;
    std::size_t begin_ = 0, end_ = 0;
    std::size_t searched_ = 0;  // bytes from begin_ already searched for searched_for_
    std::string searched_for_;
    std::size_t max_message_;
};

/// What one non-blocking fill() did.
enum class FillResult { data, would_block, end_of_stream, full };

/// The framing calls work over any byte stream with the Socket's transfer calls:
/// @code
///   std::size_t recv(void*, std::size_t, Timeout, std::error_code&)
///   std::size_t recv_exact(void*, std::size_t, Timeout, std::error_code&)
///   std::size_t send_all(const void*, std::size_t, Timeout, std::error_code&)
///   std::size_t send_all_buffers(const ConstBuffer*, std::size_t, Timeout, std::error_code&)
///   std::optional<std::size_t> try_recv(void*, std::size_t, std::error_code&)   (fill() only)
/// @endcode
/// where Timeout::max() means no deadline. Socket is one; StreamReader and MessageWriter are
/// the Socket instances, `BasicStreamReader<S>` and `BasicMessageWriter<S>` the others.
///
/// Every read and write has a Timeout form bounding the whole call (however many system calls
/// it takes) and reports std::errc::timed_out; the forms without one wait as long as it takes.
template <class Stream>
class BasicStreamReader {
public:
    /// Reads up to chunk bytes per system call. The reader borrows the stream, which must
    /// outlive it; it can be neither copied nor moved, so an object holding a stream and its
    /// reader cannot be moved away from the stream either (keep such objects behind a
    /// std::unique_ptr to store them in a container). The buffer grows on demand up to
    /// max_message + max_frame_overhead bytes.
    explicit BasicStreamReader(Stream& stream, std::size_t max_message = default_max_message,
                               std::size_t chunk = 64 * 1024)
        : stream_(&stream), buffer_(max_message), chunk_(chunk > 0 ? chunk : 1) {}
    BasicStreamReader(const BasicStreamReader&) = delete;
    BasicStreamReader& operator=(const BasicStreamReader&) = delete;

    /// One whole length-prefixed message (view valid until the next read). The peer closing
    /// mid-message is errc::end_of_stream; a timeout is std::errc::timed_out. Either way the
    /// partial message stays in buffered() and a later call resumes it.
    ///@{
    [[nodiscard]] std::string_view read_message(Timeout timeout, std::error_code& ec, Prefix prefix = Prefix::u32) {
        return read_until_complete(timeout, ec, [&](std::error_code& e) { return buffer_.next_message(e, prefix); });
    }
    [[nodiscard]] std::string_view read_message(std::error_code& ec, Prefix prefix = Prefix::u32) {
        return read_message(Timeout::max(), ec, prefix);
    }
#if !defined(SOCKETS_NO_EXCEPTIONS)
    [[nodiscard]] std::string_view read_message(Timeout timeout, Prefix prefix = Prefix::u32) {
        std::error_code ec;
        std::string_view m = read_message(timeout, ec, prefix);
        if (ec) detail::throw_error(ec, detail::describe_transfer(*stream_, "read_message"));
        return m;
    }
    [[nodiscard]] std::string_view read_message(Prefix prefix = Prefix::u32) { return read_message(Timeout::max(), prefix); }
#endif
    ///@}

    /// One line without its ending (which may arrive split across reads); by default "\n" or
    /// "\r\n". Strict: the peer closing before the ending is errc::end_of_stream, the
    /// unterminated rest staying in buffered().
    ///@{
    [[nodiscard]] std::string_view read_line(Timeout timeout, std::error_code& ec, Delimiter delimiter = Delimiter::lf_or_crlf()) {
        return read_line_until(timeout, ec, delimiter, false);
    }
    [[nodiscard]] std::string_view read_line(std::error_code& ec, Delimiter delimiter = Delimiter::lf_or_crlf()) {
        return read_line(Timeout::max(), ec, delimiter);
    }
#if !defined(SOCKETS_NO_EXCEPTIONS)
    [[nodiscard]] std::string_view read_line(Timeout timeout, Delimiter delimiter = Delimiter::lf_or_crlf()) {
        std::error_code ec;
        std::string_view line = read_line(timeout, ec, delimiter);
        if (ec) detail::throw_error(ec, detail::describe_transfer(*stream_, "read_line"));
        return line;
    }
    [[nodiscard]] std::string_view read_line(Delimiter delimiter = Delimiter::lf_or_crlf()) {
        return read_line(Timeout::max(), delimiter);
    }
#endif
    ///@}

    /// Like read_line, but lenient at the end, as Python's readline(): when the peer closes
    /// after a last line without an ending, that rest (as it is, not empty) is the last line;
    /// only the call after it reports errc::end_of_stream.
    ///@{
    [[nodiscard]] std::string_view read_line_or_remainder(Timeout timeout, std::error_code& ec,
                                            Delimiter delimiter = Delimiter::lf_or_crlf()) {
        return read_line_until(timeout, ec, delimiter, true);
    }
    [[nodiscard]] std::string_view read_line_or_remainder(std::error_code& ec, Delimiter delimiter = Delimiter::lf_or_crlf()) {
        return read_line_or_remainder(Timeout::max(), ec, delimiter);
    }
#if !defined(SOCKETS_NO_EXCEPTIONS)
    [[nodiscard]] std::string_view read_line_or_remainder(Timeout timeout, Delimiter delimiter = Delimiter::lf_or_crlf()) {
        std::error_code ec;
        std::string_view line = read_line_or_remainder(timeout, ec, delimiter);
        if (ec) detail::throw_error(ec, detail::describe_transfer(*stream_, "read_line"));
        return line;
    }
    [[nodiscard]] std::string_view read_line_or_remainder(Delimiter delimiter = Delimiter::lf_or_crlf()) {
        return read_line_or_remainder(Timeout::max(), delimiter);
    }
#endif
    ///@}

    /// Exactly size bytes: buffered ones first, then straight from the stream. Returns the
    /// bytes delivered (all of them unless ec is set).
    ///@{
    std::size_t read_exact(void* out, std::size_t size, Timeout timeout, std::error_code& ec) {
        ec.clear();
        std::size_t from_buffer = take_buffered(out, size);
        if (from_buffer == size) return size;
        return from_buffer + stream_->recv_exact(static_cast<char*>(out) + from_buffer, size - from_buffer, timeout, ec);
    }
    std::size_t read_exact(void* out, std::size_t size, std::error_code& ec) {
        return read_exact(out, size, Timeout::max(), ec);
    }
#if !defined(SOCKETS_NO_EXCEPTIONS)
    std::size_t read_exact(void* out, std::size_t size, Timeout timeout) {
        std::error_code ec;
        std::size_t n = read_exact(out, size, timeout, ec);
        if (ec) throw_exception(TransferError(ec, detail::describe_transfer(*stream_, "read_exact"), n));
        return n;
    }
    std::size_t read_exact(void* out, std::size_t size) { return read_exact(out, size, Timeout::max()); }
#endif
    ///@}

    /// Whatever is available, at most capacity bytes: buffered bytes, or one recv. 0: closed.
    ///@{
    [[nodiscard]] std::size_t read_some(void* out, std::size_t capacity, Timeout timeout, std::error_code& ec) {
        ec.clear();
        if (buffer_.size() > 0 || capacity == 0) return take_buffered(out, capacity);
        return stream_->recv(out, capacity, timeout, ec);
    }
    [[nodiscard]] std::size_t read_some(void* out, std::size_t capacity, std::error_code& ec) {
        return read_some(out, capacity, Timeout::max(), ec);
    }
#if !defined(SOCKETS_NO_EXCEPTIONS)
    [[nodiscard]] std::size_t read_some(void* out, std::size_t capacity, Timeout timeout) {
        std::error_code ec;
        std::size_t n = read_some(out, capacity, timeout, ec);
        if (ec) detail::throw_error(ec, detail::describe_transfer(*stream_, "read_some"));
        return n;
    }
    [[nodiscard]] std::size_t read_some(void* out, std::size_t capacity) { return read_some(out, capacity, Timeout::max()); }
#endif
    ///@}

    // ---- non-blocking use, e.g. when a Poller says readable --------------------------------

    /// One recv that never waits, appended to the buffer. full: the buffer is at its ceiling;
    /// parse (try_message/try_line) before filling again.
    FillResult fill(std::error_code& ec) {
        ec.clear();
        std::size_t room = room_left();
        if (room == 0) return FillResult::full;
        auto n = stream_->try_recv(buffer_.prepare(room), room, ec);
        if (ec || !n) return FillResult::would_block;
        if (*n == 0) return FillResult::end_of_stream;
        buffer_.commit(*n);
        return FillResult::data;
    }
    /// Parse what is buffered, without I/O: std::nullopt means "need more".
    ///@{
    [[nodiscard]] std::optional<std::string_view> try_message(std::error_code& ec, Prefix prefix = Prefix::u32) {
        return buffer_.next_message(ec, prefix);
    }
    [[nodiscard]] std::optional<std::string_view> try_line(std::error_code& ec, Delimiter delimiter = Delimiter::lf_or_crlf()) {
        note_delimiter(delimiter);
        return buffer_.next_line(ec, delimiter);
    }
    ///@}

    /// Bytes received and not yet handed out (see MessageBuffer::buffered()).
    std::string_view buffered() const noexcept { return buffer_.buffered(); }
    /// Drops the first n buffered bytes.
    void consume(std::size_t n) noexcept { buffer_.consume(n); }
    /// The buffer itself, for parsing by hand.
    MessageBuffer& buffer() noexcept { return buffer_; }
    /// The stream read from; socket() is the older name of stream().
    ///@{
    Stream& stream() noexcept { return *stream_; }
    Stream& socket() noexcept { return *stream_; }  // the older name of stream()
    ///@}

private:
    std::string_view read_line_until(Timeout timeout, std::error_code& ec, Delimiter delimiter, bool remainder) {
        note_delimiter(delimiter);
        return read_until_complete(
            timeout, ec, [&](std::error_code& e) { return buffer_.next_line(e, delimiter); }, remainder);
    }

    // Parses, and reads more until a frame is complete, under one deadline for the whole call.
    // At the end of the stream, remainder hands out what is left as the last frame.
    template <class Parse>
    std::string_view read_until_complete(Timeout timeout, std::error_code& ec, Parse parse, bool remainder = false) {
        const detail::Deadline deadline(timeout);
        for (;;) {
            if (auto m = parse(ec)) return *m;
            if (ec) return {};
            std::size_t room = room_left();
            if (room == 0) {  // unreachable while slack_ covers the frame being parsed
                ec = errc::message_too_large;
                return {};
            }
            std::size_t n = stream_->recv(buffer_.prepare(room), room, deadline.remaining(), ec);
            if (ec) return {};
            if (n == 0) {
                if (remainder && buffer_.size() > 0) return take_remainder(ec);
                ec = errc::end_of_stream;
                return {};
            }
            buffer_.commit(n);
        }
    }

    std::string_view take_remainder(std::error_code& ec) noexcept {
        std::string_view rest = buffer_.buffered();
        if (rest.size() > buffer_.max_message()) {
            ec = errc::message_too_large;
            return {};
        }
        buffer_.consume(rest.size());  // the bytes stay in place until the next read
        return rest;
    }

    std::size_t take_buffered(void* out, std::size_t size) noexcept {
        std::string_view have = buffer_.buffered();
        std::size_t n = have.size() < size ? have.size() : size;
        if (n) std::memcpy(out, have.data(), n);
        buffer_.consume(n);
        return n;
    }

    // How much the next read may add: a chunk, but never past the limit plus the slack the
    // frames parsed so far need, so a too-long frame is detected with the buffer at its ceiling.
    std::size_t room_left() const noexcept {
        std::size_t ceiling = detail::saturating_add(buffer_.max_message(), slack_);
        std::size_t used = buffer_.size();
        std::size_t room = ceiling > used ? ceiling - used : 0;
        return room < chunk_ ? room : chunk_;
    }
    void note_delimiter(Delimiter delimiter) noexcept {
        if (delimiter.max_size() + 1 > slack_) slack_ = delimiter.max_size() + 1;
    }

    Stream* stream_;
    MessageBuffer buffer_;
    std::size_t chunk_;
    std::size_t slack_ = max_frame_overhead;
};

/// A BasicStreamReader over a Socket.
using StreamReader = BasicStreamReader<Socket>;

/// Writes the big-endian length prefix and the payload with one gather write (no copy, one
/// system call unless the kernel takes it in parts). Returns the bytes sent, prefix included;
/// after a timeout (std::errc::timed_out) or an error, the bytes that did go out.
///@{
template <class Stream>
std::size_t send_message(Stream& stream, const void* payload, std::size_t size, Timeout timeout,
                         std::error_code& ec, Prefix prefix = Prefix::u32) {
    ec.clear();
    unsigned char header[8];
    const std::size_t width = detail::encode_prefix(header, prefix, size, ec);
    if (ec) return 0;
    ConstBuffer pieces[2] = {{header, width}, {payload, size}};
    return stream.send_all_buffers(pieces, 2, timeout, ec);
}
template <class Stream>
std::size_t send_message(Stream& stream, const void* payload, std::size_t size, std::error_code& ec,
                         Prefix prefix = Prefix::u32) {
    return send_message(stream, payload, size, Timeout::max(), ec, prefix);
}
template <class Stream>
std::size_t send_message(Stream& stream, std::string_view payload, Timeout timeout, std::error_code& ec,
                         Prefix prefix = Prefix::u32) {
    return send_message(stream, payload.data(), payload.size(), timeout, ec, prefix);
}
template <class Stream>
std::size_t send_message(Stream& stream, std::string_view payload, std::error_code& ec, Prefix prefix = Prefix::u32) {
    return send_message(stream, payload.data(), payload.size(), Timeout::max(), ec, prefix);
}
#if !defined(SOCKETS_NO_EXCEPTIONS)
template <class Stream>
std::size_t send_message(Stream& stream, std::string_view payload, Timeout timeout, Prefix prefix = Prefix::u32) {
    std::error_code ec;
    std::size_t n = send_message(stream, payload.data(), payload.size(), timeout, ec, prefix);
    if (ec) throw_exception(TransferError(ec, detail::describe_transfer(stream, "send_message"), n));
    return n;
}
template <class Stream>
std::size_t send_message(Stream& stream, std::string_view payload, Prefix prefix = Prefix::u32) {
    return send_message(stream, payload, Timeout::max(), prefix);
}
#endif
///@}

/// Collects many small messages and sends them in one system call per batch: the writing twin
/// of BasicStreamReader, borrowing its stream the same way. Messages go out when the batch
/// reaches batch_size bytes, on flush(), and on destruction: the destructor makes a best-effort
/// flush bounded by destroy_timeout() (1 s unless set; zero: only what the kernel takes at once),
/// drops what is still pending and loses any error. Call flush() to know.
template <class Stream>
class BasicMessageWriter {
public:
    /// Borrows stream, which must outlive the writer; a batch is sent once it reaches batch_size bytes.
    explicit BasicMessageWriter(Stream& stream, std::size_t batch_size = 64 * 1024, Prefix prefix = Prefix::u32)
        : stream_(&stream), batch_size_(batch_size), prefix_(prefix) {}
    BasicMessageWriter(const BasicMessageWriter&) = delete;
    BasicMessageWriter& operator=(const BasicMessageWriter&) = delete;
    ~BasicMessageWriter() {
        std::error_code ignored;
        flush(destroy_timeout_, ignored);
    }

    /// Queues one message; flushes (under timeout) when the batch is full.
    ///@{
    void write_message(std::string_view payload, Timeout timeout, std::error_code& ec) {
        ec.clear();
        unsigned char header[8];
        const std::size_t width = detail::encode_prefix(header, prefix_, payload.size(), ec);
        if (ec) return;
        std::size_t at = pending_.size();
        pending_.resize(at + width + payload.size());
        std::memcpy(pending_.data() + at, header, width);
        if (!payload.empty()) std::memcpy(pending_.data() + at + width, payload.data(), payload.size());
        if (pending_.size() >= batch_size_) flush(timeout, ec);
    }
    void write_message(std::string_view payload, std::error_code& ec) { write_message(payload, Timeout::max(), ec); }
#if !defined(SOCKETS_NO_EXCEPTIONS)
    void write_message(std::string_view payload, Timeout timeout) {
        std::error_code ec;
        write_message(payload, timeout, ec);
        if (ec) detail::throw_error(ec, detail::describe_transfer(*stream_, "write_message"));
    }
    void write_message(std::string_view payload) { write_message(payload, Timeout::max()); }
#endif
    ///@}

    /// Sends everything collected. On error or timeout the unsent bytes stay queued.
    ///@{
    void flush(Timeout timeout, std::error_code& ec) {
        ec.clear();
        if (pending_.empty()) return;
        std::size_t sent = stream_->send_all(pending_.data(), pending_.size(), timeout, ec);
        pending_.erase(pending_.begin(), pending_.begin() + static_cast<std::ptrdiff_t>(sent));
    }
    void flush(std::error_code& ec) { flush(Timeout::max(), ec); }
#if !defined(SOCKETS_NO_EXCEPTIONS)
    void flush(Timeout timeout) {
        std::error_code ec;
        flush(timeout, ec);
        if (ec) detail::throw_error(ec, detail::describe_transfer(*stream_, "flush"));
    }
    void flush() { flush(Timeout::max()); }
#endif
    ///@}

    /// Bytes queued and not yet sent.
    std::size_t pending() const noexcept { return pending_.size(); }
    /// How long the destructor's flush may take: 1 s unless set; zero: only what the kernel takes at once.
    ///@{
    Timeout destroy_timeout() const noexcept { return destroy_timeout_; }
    void set_destroy_timeout(Timeout timeout) noexcept { destroy_timeout_ = timeout; }
    ///@}
    /// The stream written to.
    Stream& stream() noexcept { return *stream_; }

private:
    Stream* stream_;
    std::size_t batch_size_;
    Prefix prefix_;
    Timeout destroy_timeout_ = std::chrono::seconds(1);
    std::vector<char> pending_;
};

/// A BasicMessageWriter over a Socket.
using MessageWriter = BasicMessageWriter<Socket>;

/// @cond SOCKETS_DETAIL
namespace detail {
// Streams whose try_send may leave bytes of their own behind (TlsStream: encrypted records
// the socket had no room for) have a try_flush(ec) for them.
template <class Stream, class = void>
struct HasTryFlush : std::false_type {};
template <class Stream>
struct HasTryFlush<Stream, std::void_t<decltype(std::declval<Stream&>().try_flush(std::declval<std::error_code&>()))>>
    : std::true_type {};
}  // namespace detail
/// @endcond

/// Bytes waiting to go out, for a writer that must never block (a Poller loop, or the
/// EventLoop's tasks): append lines, length-prefixed messages or raw bytes at any time, and
/// call try_flush when the stream is writable. The writing twin of MessageBuffer: it grows as
/// needed and has no limit of its own; pending() is what a server checks to stop reading from
/// a client that does not read its answers (back-pressure).
/// @code
///   OutputBuffer out;
///   out.append_line("PONG");
///   if (!out.try_flush(client, ec) && !ec) poller.modify(client, Events::readable | Events::writable);
/// @endcode
class OutputBuffer {
public:
    /// An empty buffer (allocates on the first append).
    OutputBuffer() noexcept = default;

    /// Appends bytes as they are.
    ///@{
    void append(const void* data, std::size_t size);
    void append(std::string_view bytes) { append(bytes.data(), bytes.size()); }
    ///@}
    /// Appends text followed by ending ("\n" unless given), as send_line frames it.
    void append_line(std::string_view text, std::string_view ending = "\n");
    /// Appends payload after its big-endian length prefix, as send_message frames it. A payload
    /// the prefix cannot count is errc::message_too_large, and nothing is appended.
    ///@{
    void append_message(std::string_view payload, std::error_code& ec, Prefix prefix = Prefix::u32);
#if !defined(SOCKETS_NO_EXCEPTIONS)
    void append_message(std::string_view payload, Prefix prefix = Prefix::u32);
#endif
    ///@}

    /// Sends what the stream takes now, without waiting (its try_send; for a TlsStream also
    /// its try_flush of records already encrypted). true: nothing is left. false: wait until
    /// the stream is writable (a TlsStream: its wants()) and call again. On error, false with
    /// ec set; the bytes not sent stay (the connection is usually beyond saving). The
    /// throwing form throws std::system_error ("try_flush to PEER: ...").
    ///@{
    template <class Stream>
    bool try_flush(Stream& stream, std::error_code& ec) {
        ec.clear();
        while (begin_ < bytes_.size()) {
            std::optional<std::size_t> n = stream.try_send(bytes_.data() + begin_, bytes_.size() - begin_, ec);
            if (n) consume(*n);
            if (ec || !n) return false;
        }
        if constexpr (detail::HasTryFlush<Stream>::value) return stream.try_flush(ec);
        return true;
    }
#if !defined(SOCKETS_NO_EXCEPTIONS)
    template <class Stream>
    bool try_flush(Stream& stream) {
        std::error_code ec;
        bool done = try_flush(stream, ec);
        if (ec) detail::throw_error(ec, detail::describe_transfer(stream, "try_flush"));
        return done;
    }
#endif
    ///@}

    /// Bytes appended and not yet sent.
    std::size_t pending() const noexcept { return bytes_.size() - begin_; }
    /// True when nothing is waiting.
    bool empty() const noexcept { return pending() == 0; }
    /// The bytes waiting, oldest first (valid until the next append, consume or try_flush):
    /// for writing them yourself.
    std::string_view data() const noexcept { return std::string_view(bytes_.data() + begin_, pending()); }
    /// Counts the first n waiting bytes as sent (all of them if there are fewer).
    void consume(std::size_t n) noexcept {
        begin_ += n < pending() ? n : pending();
        if (begin_ == bytes_.size()) {
            bytes_.clear();
            begin_ = 0;
        }
    }
    /// Drops everything waiting (the capacity stays for reuse).
    void clear() noexcept { consume(pending()); }

private:
    char* extend(std::size_t n);

    std::vector<char> bytes_;
    std::size_t begin_ = 0;  // bytes before it went out already
};

/// The text and its delimiter, in one gather write.
///@{
template <class Stream>
std::size_t send_line(Stream& stream, std::string_view line, Timeout timeout, std::error_code& ec,
                      std::string_view delimiter = "\n") {
    ec.clear();
    ConstBuffer pieces[2] = {{line.data(), line.size()}, {delimiter.data(), delimiter.size()}};
    return stream.send_all_buffers(pieces, 2, timeout, ec);
}
template <class Stream>
std::size_t send_line(Stream& stream, std::string_view line, std::error_code& ec, std::string_view delimiter = "\n") {
    return send_line(stream, line, Timeout::max(), ec, delimiter);
}
#if !defined(SOCKETS_NO_EXCEPTIONS)
template <class Stream>
std::size_t send_line(Stream& stream, std::string_view line, Timeout timeout, std::string_view delimiter = "\n") {
    std::error_code ec;
    std::size_t n = send_line(stream, line, timeout, ec, delimiter);
    if (ec) throw_exception(TransferError(ec, detail::describe_transfer(stream, "send_line"), n));
    return n;
}
template <class Stream>
std::size_t send_line(Stream& stream, std::string_view line, std::string_view delimiter = "\n") {
    return send_line(stream, line, Timeout::max(), delimiter);
}
#endif
///@}

SOCKETS_MODE_NAMESPACE_END
}  // namespace sockets

#if !defined(SOCKETS_SEPARATE_COMPILATION)
#include "impl/message.ipp"
#endif
