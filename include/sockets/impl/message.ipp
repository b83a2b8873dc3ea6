// Definitions for message.hpp: inline in header-only mode, compiled once by src/sockets.cpp.
// Out of line: the parsers (next_message, next_line; once per message, a call is noise beside
// the search). The buffer's growth stays inline in the header (see make_room), and the readers
// and writers are templates.
#pragma once

#include <cstddef>
#include <cstring>
#include <new>
#include <utility>

#include "../message.hpp"

namespace sockets {
SOCKETS_MODE_NAMESPACE_BEGIN

SOCKETS_DECL MessageBuffer::MessageBuffer(MessageBuffer&& other) noexcept
    : bytes_(std::move(other.bytes_)), capacity_(std::exchange(other.capacity_, 0)),
      begin_(std::exchange(other.begin_, 0)), end_(std::exchange(other.end_, 0)),
      searched_(std::exchange(other.searched_, 0)), searched_for_(std::move(other.searched_for_)),
      max_message_(other.max_message_) {
    other.searched_for_.clear();
}

SOCKETS_DECL std::optional<std::string_view> MessageBuffer::next_message(std::error_code& ec, Prefix prefix) {
    ec.clear();
    const std::size_t width = static_cast<std::size_t>(prefix);
    std::string_view data = buffered();
    if (data.size() < width) return std::nullopt;
    std::uint64_t length = prefix == Prefix::u16   ? load_be<std::uint16_t>(data.data())
                           : prefix == Prefix::u32 ? load_be<std::uint32_t>(data.data())
                                                   : load_be<std::uint64_t>(data.data());
    if (length > max_message_) {
        ec = errc::message_too_large;
        return std::nullopt;
    }
    if (data.size() - width < length) return std::nullopt;
    consume(width + static_cast<std::size_t>(length));
    return data.substr(width, static_cast<std::size_t>(length));
}

SOCKETS_DECL std::optional<std::string_view> MessageBuffer::next_line(std::error_code& ec, Delimiter delimiter) {
    ec.clear();
    std::string_view data = buffered();
    std::string_view text = delimiter.text();
    if (text.empty()) {
        ec = std::make_error_code(std::errc::invalid_argument);
        return std::nullopt;
    }
    // Resume where the last search for this same text stopped, less a partial delimiter
    // that may straddle it; a search for other text starts over.
    if (text != searched_for_) {
        searched_for_.assign(text.data(), text.size());
        searched_ = 0;
    }
    std::size_t from = searched_ >= text.size() ? searched_ - (text.size() - 1) : 0;
    std::size_t at = data.find(text, from);
    if (at == std::string_view::npos) {
        searched_ = data.size();
        if (data.size() > detail::saturating_add(max_message_, delimiter.max_size())) ec = errc::message_too_large;
        return std::nullopt;
    }
    std::size_t length = at;
    if (delimiter.strips_cr() && at > 0 && data[at - 1] == '\r') --length;
    if (length > max_message_) {
        ec = errc::message_too_large;
        return std::nullopt;
    }
    consume(at + text.size());
    return data.substr(0, length);
}

SOCKETS_DECL MessageBuffer& MessageBuffer::operator=(MessageBuffer&& other) noexcept {
    if (this != &other) {
        bytes_ = std::move(other.bytes_);
        capacity_ = std::exchange(other.capacity_, 0);
        begin_ = std::exchange(other.begin_, 0);
        end_ = std::exchange(other.end_, 0);
        searched_ = std::exchange(other.searched_, 0);
        searched_for_ = std::move(other.searched_for_);
        other.searched_for_.clear();
        max_message_ = other.max_message_;
    }
    return *this;
}

// ---- OutputBuffer ---------------------------------------------------------------------------

// Room for n more bytes at the end. Bytes already sent are dropped first once they are at least
// half of the buffer, so a writer that always keeps a little pending does not grow forever.
SOCKETS_DECL char* OutputBuffer::extend(std::size_t n) {
    if (begin_ > 0 && begin_ >= bytes_.size() / 2) {
        bytes_.erase(bytes_.begin(), bytes_.begin() + static_cast<std::ptrdiff_t>(begin_));
        begin_ = 0;
    }
    std::size_t at = bytes_.size();
    bytes_.resize(at + n);
    return bytes_.data() + at;
}

SOCKETS_DECL void OutputBuffer::append(const void* data, std::size_t size) {
    if (size == 0) return;
    std::memcpy(extend(size), data, size);
}

SOCKETS_DECL void OutputBuffer::append_line(std::string_view text, std::string_view ending) {
    char* out = extend(text.size() + ending.size());
    if (!text.empty()) std::memcpy(out, text.data(), text.size());
    if (!ending.empty()) std::memcpy(out + text.size(), ending.data(), ending.size());
}

SOCKETS_DECL void OutputBuffer::append_message(std::string_view payload, std::error_code& ec, Prefix prefix) {
    ec.clear();
    unsigned char header[8];
    const std::size_t width = detail::encode_prefix(header, prefix, payload.size(), ec);
    if (ec) return;
    char* out = extend(width + payload.size());
    std::memcpy(out, header, width);
    if (!payload.empty()) std::memcpy(out + width, payload.data(), payload.size());
}

#if !defined(SOCKETS_NO_EXCEPTIONS)
SOCKETS_DECL void OutputBuffer::append_message(std::string_view payload, Prefix prefix) {
    std::error_code ec;
    append_message(payload, ec, prefix);
    detail::throw_if(ec, "append_message");
}
#endif

SOCKETS_MODE_NAMESPACE_END
}  // namespace sockets
