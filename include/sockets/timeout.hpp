/// @file
/// Timeout: how long a call may wait. One rule for every call that takes one (transfers,
/// connect, accept, Poller::wait, the framing layer, socket timeout options):
///   - any std::chrono::duration converts (microseconds, seconds, duration<double>, ...);
///   - zero or negative means "don't wait" (one attempt, then timed_out);
///   - a duration too large to add to steady_clock::now() (Timeout::max(), hours::max(),
///     300 years) means "no deadline": the call behaves exactly like its form without a
///     Timeout (which SO_RCVTIMEO / SO_SNDTIMEO still bound, if set).
#pragma once

#include <chrono>
#include <climits>
#include <ratio>
#include <type_traits>

#include "config.hpp"

namespace sockets {
SOCKETS_MODE_NAMESPACE_BEGIN
namespace detail {

// Converting first and checking afterwards would overflow (UB) on exactly the inputs that
// matter (hours::max(), Timeout::max() passed through milliseconds), so the range check is
// done in long double; anything past 2^62 ns (146 years) has no deadline.
template <class Rep, class Period>
constexpr std::chrono::nanoseconds saturate_ns(std::chrono::duration<Rep, Period> d) noexcept {
    using duration = std::chrono::nanoseconds;
    using namespace std::chrono;
    long double ns = static_cast<long double>(d.count()) * Period::num * 1000000000.0L / Period::den;
    if (!(ns > 0)) return duration::zero();  // zero, negative, NaN: don't wait
    if (ns >= 4611686018427387904.0L) return duration::max();
    if constexpr (!treat_as_floating_point<Rep>::value && std::ratio_greater_equal<Period, std::nano>::value)
        return duration_cast<duration>(d);  // exact
    else
        return duration(static_cast<duration::rep>(ns + 0.999L));  // round up: never early
}

}  // namespace detail

/// How long a call may wait: any std::chrono duration; zero or negative = don't wait,
/// Timeout::max() (or anything too large for the clock) = no deadline.
class Timeout {
public:
    /// The resolution a Timeout keeps.
    using duration = std::chrono::nanoseconds;

    /// Zero: don't wait.
    constexpr Timeout() noexcept = default;

    /// Any duration, implicitly: rounded up to whole nanoseconds (never early), negative
    /// clamped to zero, huge saturated to max().
    template <class Rep, class Period>
    constexpr Timeout(std::chrono::duration<Rep, Period> d) noexcept : ns_(detail::saturate_ns(d)) {}  // NOLINT: implicit on purpose

    /// No deadline at all.
    static constexpr Timeout max() noexcept { return Timeout(duration::max()); }
    /// Don't wait.
    static constexpr Timeout zero() noexcept { return Timeout(); }

    /// True for "no deadline".
    constexpr bool is_max() const noexcept { return ns_ == duration::max(); }
    /// True for "don't wait".
    constexpr bool is_zero() const noexcept { return ns_ == duration::zero(); }
    /// The length, clamped to [0, duration::max()]; duration::max() when is_max().
    constexpr duration length() const noexcept { return ns_; }

    /// Comparisons by length.
    ///@{
    friend constexpr bool operator==(Timeout a, Timeout b) noexcept { return a.ns_ == b.ns_; }
    friend constexpr bool operator!=(Timeout a, Timeout b) noexcept { return a.ns_ != b.ns_; }
    friend constexpr bool operator<(Timeout a, Timeout b) noexcept { return a.ns_ < b.ns_; }
    ///@}

private:
    duration ns_ = duration::zero();
};

namespace detail {

// The time rule of one call. Default-constructed: a plain call (no Timeout argument), which
// waits as the socket's own timeout options say. From a Timeout: a timed call, which never
// blocks in the kernel and gives up at the deadline; with no deadline (Timeout::max(), or too
// large for the clock) it is exactly the plain call.
class Deadline {
public:
    using clock = std::chrono::steady_clock;

    Deadline() noexcept = default;
    explicit Deadline(Timeout timeout) noexcept {
        if (timeout.is_max()) return;  // no deadline: exactly the plain call
        auto now = clock::now();
        auto length = std::chrono::ceil<clock::duration>(timeout.length());
        if (length > clock::time_point::max() - now) return;  // beyond the clock's range: never
        at_ = now + length;
        finite_ = true;
    }

    // A timed call: it has a deadline, so it must never block inside the kernel.
    bool timed() const noexcept { return finite_; }
    bool finite() const noexcept { return finite_; }
    bool expired() const noexcept { return finite_ && clock::now() >= at_; }

    // What is left, as a Timeout (zero once expired, max() when never).
    Timeout remaining() const noexcept {
        if (!finite_) return Timeout::max();
        return Timeout(at_ - clock::now());
    }

    // Milliseconds left for poll()/select()/epoll_wait(), rounded up so a wait never ends
    // before the deadline; -1 means wait forever.
    int remaining_ms() const noexcept {
        if (!finite_) return -1;
        auto left = at_ - clock::now();
        if (left <= left.zero()) return 0;
        auto ms = std::chrono::ceil<std::chrono::milliseconds>(left).count();
        return ms > INT_MAX ? INT_MAX : static_cast<int>(ms);
    }

private:
    clock::time_point at_{};
    bool finite_ = false;
};

}  // namespace detail
SOCKETS_MODE_NAMESPACE_END
}  // namespace sockets
