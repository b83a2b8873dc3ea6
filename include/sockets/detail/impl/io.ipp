// Definitions for detail/io.hpp: inline in header-only mode, compiled once by src/sockets.cpp.
#pragma once

#include "../io.hpp"

namespace sockets {
SOCKETS_MODE_NAMESPACE_BEGIN

namespace detail {

SOCKETS_DECL bool wait_ready(native_handle_type h, bool write, const Deadline& deadline,
                             std::error_code& ec) noexcept {
    for (;;) {
        int rc = wait_for(h, write, deadline.remaining_ms());
        if (rc > 0) return true;
        if (rc == 0) {
            if (deadline.expired()) {
                ec = timed_out();
                return false;
            }
            continue;  // woke early (timer granularity): wait out the rest
        }
        int code = last_error_code();
        if (is_interrupted(code)) continue;
        ec = os_error(code);
        return false;
    }
}

SOCKETS_DECL Timeout socket_timeout(native_handle_type h, bool write) noexcept {
    long long ms = socket_timeout_ms(h, write);
    return ms > 0 ? Timeout(std::chrono::milliseconds(ms)) : Timeout::max();
}

SOCKETS_DECL bool Retry::again(int code, std::error_code& ec) noexcept {
    if (is_interrupted(code)) return adopt_socket_timeout(ec);
    if (!is_would_block(code)) return false;
    if (!deadline_.timed()) {
        // A plain call on a blocking socket only hears "would block" when the kernel's
        // SO_RCVTIMEO/SO_SNDTIMEO expired: that is a timeout.
        if (would_block_means_timeout(h_)) {
            ec = timed_out();
            return false;
        }
        // On a non-blocking socket, wait like the kernel would, bounded by the same option
        // (the kernel ignores it for non-blocking sockets, so the library applies it).
        if (!adopt_socket_timeout(ec)) return false;
    }
    if (deadline_.expired()) {
        ec = timed_out();
        return false;
    }
    // Readiness that did not help (another thread or process took the data, or a Unix
    // datagram peer's queue is full while poll says writable): back off instead of spinning.
    // The count is of "would block"s since the last progress, so the first wait after
    // progress never sleeps.
    if (++would_blocks_ > 1) {
        int backoff = 1 << (would_blocks_ < 8 ? would_blocks_ - 2 : 6);  // 1 .. 64 ms
        int left = deadline_.remaining_ms();
        sleep_ms(left >= 0 && left < backoff ? left : backoff);
    }
    return wait_ready(h_, write_, deadline_, ec);
}

SOCKETS_DECL bool Retry::adopt_socket_timeout(std::error_code& ec) noexcept {
    if (deadline_.timed() || option_read_) return true;
    option_read_ = true;
    Timeout t = socket_timeout(h_, write_);
    if (t.is_max()) return true;
    deadline_ = Deadline(t);
    return prepare_nonwaiting(h_, deadline_, ec);
}

SOCKETS_DECL bool wait_after_would_block(native_handle_type h, bool write, Deadline& deadline, std::error_code& ec) noexcept {
    Retry retry(h, write, deadline);
    bool again = retry.again(would_block_code, ec);
    deadline = retry.deadline();
    return again;
}

}  // namespace detail

SOCKETS_MODE_NAMESPACE_END
}  // namespace sockets
