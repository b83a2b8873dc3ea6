// Definitions for message.hpp: inline in header-only mode, compiled once by src/sockets.cpp.
// Little is out of line: the parsers and the buffer's fast path run once per message (the
// framing rows of docs/performance.md), and the readers and writers are templates.
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

// Grows by doubling up to the limit plus max_frame_overhead, then only to what is needed,
// so a reader that never asks for more than its limit holds no more than that.
SOCKETS_DECL void MessageBuffer::grow(std::size_t n) {
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

SOCKETS_MODE_NAMESPACE_END
}  // namespace sockets
