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

#include "../config.hpp"
#include "../timeout.hpp"
#include "platform.hpp"

namespace sockets {
SOCKETS_MODE_NAMESPACE_BEGIN

namespace detail {

// The OS's own "timed out" (WSAETIMEDOUT on Windows, so it prints a real message there too);
// it compares equal to std::errc::timed_out.
inline std::error_code timed_out() noexcept { return os_error(timed_out_code); }

// Waits for readiness until the deadline, retrying EINTR with the time that is left.
SOCKETS_DECL bool wait_ready(native_handle_type h, bool write, const Deadline& deadline,
                             std::error_code& ec) noexcept;
// The socket's SO_RCVTIMEO / SO_SNDTIMEO as a Timeout (none: Timeout::max()).
SOCKETS_DECL Timeout socket_timeout(native_handle_type h, bool write) noexcept;
// Before a timed or try_ call: where the OS has no per-call flag (Winsock), make sure the
// socket cannot block inside the kernel.
inline bool prepare_nonwaiting(native_handle_type h, const Deadline& deadline, std::error_code& ec) noexcept {
    if (!deadline.timed() || prepare_nonwaiting_call(h) == 0) return true;
    ec = last_error();
    return false;
}

// The retry rules of one call that may wait, shared by every loop around a system call:
//   Retry retry(h, write, deadline);
//   for (;;) { n = call(..., retry.flags()); if (ok) { retry.progressed(); ... } if (retry.again(last_error_code(), ec)) continue; ... }
// A loop that goes on after a successful call (a transfer in parts, a batch) must call
// progressed(): backoff is only for readiness that did not help, never for a wait that was
// followed by progress (a writer to a reader that pauses met "would block" at every pause and
// slept up to 64 ms before each wait: 45x slower than needed).
class Retry {
public:
    Retry(native_handle_type h, bool write, Deadline deadline) noexcept : h_(h), write_(write), deadline_(deadline) {}

    const Deadline& deadline() const noexcept { return deadline_; }
    // MSG_DONTWAIT for a timed call (Winsock: 0, the socket is non-blocking instead).
    int flags() const noexcept { return deadline_.timed() ? dontwait_flag : 0; }

    // The call failed with code: true means call again (re-read flags()); false means give up
    // (ec set here, or the caller reports code).
    bool again(int code, std::error_code& ec) noexcept;
    // The last call moved something: the next "would block" is a fresh wait, not readiness
    // that failed to help.
    void progressed() noexcept { would_blocks_ = 0; }

    // A plain call bounded by SO_RCVTIMEO/SO_SNDTIMEO continues as a timed call with that
    // bound. Needed after EINTR (retrying would restart the kernel's timeout from zero, so a
    // signal faster than the timeout would hang the call forever) and where the OS ignores
    // the option (Winsock's accept and connect, any non-blocking socket).
    bool adopt_socket_timeout(std::error_code& ec) noexcept;
private:
    native_handle_type h_;
    bool write_;
    Deadline deadline_;
    int would_blocks_ = 0;  // since the last progress
    bool option_read_ = false;
};

// One would-block outside a Retry loop (e.g. an OpenSSL call that wants the socket ready): the
// same rules, with deadline updated when a plain call adopts the socket's timeout option.
SOCKETS_DECL bool wait_after_would_block(native_handle_type h, bool write, Deadline& deadline, std::error_code& ec) noexcept;
}  // namespace detail

SOCKETS_MODE_NAMESPACE_END
}  // namespace sockets

#if !defined(SOCKETS_SEPARATE_COMPILATION)
#include "impl/io.ipp"
#endif
