// Deadlines and the retry rules shared by every blocking-style operation.
#pragma once

#include <system_error>

#include "../timeout.hpp"
#include "platform.hpp"

namespace sockets {

namespace detail {

inline std::error_code timed_out() noexcept { return std::make_error_code(std::errc::timed_out); }

// Waits for readiness until the deadline, retrying EINTR with the time that is left.
inline bool wait_ready(native_handle_type h, bool write, const Deadline& deadline,
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

// A call failed with "would block". Under a deadline, wait for readiness. Without one, a
// non-blocking socket waits for readiness too (blocking-style calls complete or fail), but a
// blocking socket only says "would block" when SO_RCVTIMEO/SO_SNDTIMEO expired: a timeout.
inline bool wait_after_would_block(native_handle_type h, bool write, const Deadline& deadline,
                                   std::error_code& ec) noexcept {
    if (!deadline.finite()) {
        bool nonblocking = true;
        if (is_nonblocking(h, nonblocking) == 0 && !nonblocking) {
            ec = timed_out();
            return false;
        }
    }
    return wait_ready(h, write, deadline, ec);
}

// Puts a socket in non-blocking mode for one operation and restores its mode afterwards.
// Winsock cannot report the mode, so there the socket is left blocking, the default.
class NonBlockingScope {
public:
    NonBlockingScope(native_handle_type h, std::error_code& ec) noexcept : handle_(h) {
        bool was = false;
        if (is_nonblocking(h, was) != 0 || (!was && set_nonblocking(h, true) != 0)) {
            ec = last_error();
            return;
        }
        changed_ = !was;
    }
    ~NonBlockingScope() {
        if (changed_) set_nonblocking(handle_, false);
    }
    bool changed() const noexcept { return changed_; }
    NonBlockingScope(const NonBlockingScope&) = delete;
    NonBlockingScope& operator=(const NonBlockingScope&) = delete;

private:
    native_handle_type handle_;
    bool changed_ = false;
};

}  // namespace detail
}  // namespace sockets
