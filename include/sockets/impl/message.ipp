// Definitions for message.hpp: inline in header-only mode, compiled once by src/sockets.cpp.
// Little is out of line: the parsers and the buffer's growth run once per message or per read
// (the framing rows of docs/performance.md), and the readers and writers are templates.
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

SOCKETS_MODE_NAMESPACE_END
}  // namespace sockets
