// The time-and-blocking model shared by every call that may wait (see docs/guide.md, "Time
// and blocking"):
//   - plain calls complete or fail, whatever the socket's mode; they wait as the kernel would
//     for a blocking socket, bounded by SO_RCVTIMEO / SO_SNDTIMEO when those are set;
//   - timed calls never block inside the kernel (MSG_DONTWAIT, or a non-blocking socket) and
//     wait for readiness with poll until their deadline;
//   - try_ calls never wait.
// No call changes state that another thread or process sharing the socket could trip over:
// the only mode change is one-way (a socket may be left non-blocking where the OS has no
// per-call flag: accept, connect, Winsock), and every call of the library behaves the same in
// both modes because the mode is read from the kernel, never assumed.
#pragma once

#include <chrono>
#include <system_error>

#include "../timeout.hpp"
#include "platform.hpp"

namespace sockets {
namespace detail {

// The OS's own "timed out" (WSAETIMEDOUT on Windows, so it prints a real message there too);
// it compares equal to std::errc::timed_out.
inline std::error_code timed_out() noexcept { return os_error(timed_out_code); }

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

// The socket's SO_RCVTIMEO / SO_SNDTIMEO as a Timeout (none: Timeout::max()).
inline Timeout socket_timeout(native_handle_type h, bool write) noexcept {
    long long ms = socket_timeout_ms(h, write);
    return ms > 0 ? Timeout(std::chrono::milliseconds(ms)) : Timeout::max();
}

// A call failed with "would block"; returns true when it should be tried again.
// A timed call waits for readiness until its deadline. A plain call on a blocking socket only
// hears "would block" when the kernel's SO_RCVTIMEO/SO_SNDTIMEO expired: that is a timeout.
// A plain call on a non-blocking socket waits for readiness like the kernel would, bounded by
// the same option (the kernel ignores it for non-blocking sockets, so the library applies it).
inline bool wait_after_would_block(native_handle_type h, bool write, Deadline& deadline,
                                   std::error_code& ec) noexcept {
    if (!deadline.timed()) {
        if (would_block_means_timeout(h)) {
            ec = timed_out();
            return false;
        }
        deadline = Deadline(socket_timeout(h, write));
    }
    return wait_ready(h, write, deadline, ec);
}

// Before a timed or try_ call: where the OS has no per-call flag (Winsock), make sure the
// socket cannot block inside the kernel.
inline bool prepare_nonwaiting(native_handle_type h, const Deadline& deadline, std::error_code& ec) noexcept {
    if (!deadline.timed() || prepare_nonwaiting_call(h) == 0) return true;
    ec = last_error();
    return false;
}

}  // namespace detail
}  // namespace sockets
