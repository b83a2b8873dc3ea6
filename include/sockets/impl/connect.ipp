// Definitions for connect.hpp: inline in header-only mode, compiled once by src/sockets.cpp.
// The race and the resolver thread are used by nothing else, so their types live here too.
#pragma once

#include <chrono>
#include <cstddef>
#include <exception>
#include <string>
#include <string_view>
#include <system_error>
#include <utility>
#include <vector>

#include "../connect.hpp"

namespace sockets {
SOCKETS_MODE_NAMESPACE_BEGIN

SOCKETS_DECL ConnectError::ConnectError(std::error_code ec, const std::string& what,
                                        std::vector<ConnectAttempt> attempts)
    : std::system_error(ec, what), shared_(new Shared{1, std::move(attempts)}) {}

SOCKETS_DECL ConnectError& ConnectError::operator=(const ConnectError& other) noexcept {
    std::system_error::operator=(other);
    detail::ref_acquire(other.shared_->references);
    release();
    shared_ = other.shared_;
    return *this;
}

namespace detail {

SOCKETS_DECL Socket connect_one(const Address& address, const Deadline& deadline, std::error_code& ec) {
    Socket s = Socket::open(address.family(), Type::stream, ec);
    if (ec) return Socket();
    if (deadline.timed()) {
        s.connect(address, deadline.remaining(), ec);
        // Nobody else holds this socket yet: hand it over blocking, like a plain connect's.
        if (!ec) s.set_nonblocking(false, ec);
    } else {
        s.connect(address, ec);
    }
    if (ec) return Socket();
    return s;
}

// RFC 8305 section 4: alternate the families, IPv6 first, each keeping the resolver's order,
// so a family that is broken as a whole delays the other by one attempt delay at most.
SOCKETS_DECL std::vector<Address> interleave_families(const std::vector<Address>& candidates) {
    std::vector<Address> v6, v4, out;
    out.reserve(candidates.size());
    for (const auto& a : candidates) {
        if (a.family() == Family::ipv6) v6.push_back(a);
        else if (a.family() == Family::ipv4) v4.push_back(a);
    }
    for (std::size_t i = 0; i < v6.size() || i < v4.size(); ++i) {
        if (i < v6.size()) out.push_back(v6[i]);
        if (i < v4.size()) out.push_back(v4[i]);
    }
    for (const auto& a : candidates)
        if (a.family() != Family::ipv6 && a.family() != Family::ipv4) out.push_back(a);
    return out;
}

// Keeps a Windows handle set (select_capacity sockets) from overflowing; more attempts than
// this in flight would not make a connection any sooner.
inline constexpr std::size_t max_racing = select_capacity < 64 ? select_capacity : 64;

struct Race {
    struct Pending {
        Socket socket;
        Address address;
    };
    std::vector<Address> order;
    std::size_t next = 0;  // order[next] is the next candidate to start
    std::vector<Pending> pending;
    // Unix-domain attempts whose listener's backlog was full (EAGAIN, no readiness event to
    // wait for): connected again after backoff_ms, until the deadline, as a plain connect is.
    std::vector<Pending> backlogged;
    int backoff_ms = 1;
    std::vector<ConnectAttempt> failed;

    bool untried() const noexcept { return next < order.size(); }
    bool in_flight() const noexcept { return !pending.empty() || !backlogged.empty(); }
};

// One connect call of an attempt: true if it connected; otherwise it is pending (waiting for
// writable), backlogged, or has failed.
SOCKETS_DECL bool try_attempt(Race& race, Socket s, const Address& address, Socket& connected) {
    std::error_code ec;
    if (s.start_connect(address, ec)) {
        connected = std::move(s);
        return true;
    }
    if (ec == std::errc::interrupted) ec.clear();  // a signal: the kernel goes on connecting
    if (!ec) race.pending.push_back({std::move(s), address});
    else if (address.family() == Family::unix_domain && ec == std::errc::resource_unavailable_try_again)
        race.backlogged.push_back({std::move(s), address});
    else race.failed.push_back({address, ec});
    return false;
}

// Starts the next candidate. Returns its socket if it connected at once.
SOCKETS_DECL Socket start_attempt(Race& race) {
    const Address& address = race.order[race.next++];
    std::error_code ec;
    Socket s = Socket::open(address.family(), Type::stream, ec);
    if (!ec) s.set_nonblocking(true, ec);
    if (ec) {
        race.failed.push_back({address, ec});
        return Socket();
    }
    Socket connected;
    try_attempt(race, std::move(s), address, connected);
    return connected;
}

// Connects the backlogged attempts again; returns the first that got in, if any.
SOCKETS_DECL Socket retry_backlogged(Race& race) {
    std::vector<Race::Pending> waiting = std::move(race.backlogged);
    race.backlogged.clear();
    Socket connected;
    for (auto& attempt : waiting) {
        if (connected) break;  // the losers close with waiting
        try_attempt(race, std::move(attempt.socket), attempt.address, connected);
    }
    race.backoff_ms = race.backoff_ms < 64 ? race.backoff_ms * 2 : 64;
    return connected;
}

// Waits until some pending attempts end (either way) or timeout_ms passes (-1: forever);
// marks them in ended. Returns like poll.
#if defined(_WIN32)
// select, not WSAPoll: WSAPoll does not report a failed connect on older Windows, select's
// except set does. A set counts sockets on Windows, and max_racing keeps within it.
SOCKETS_DECL int wait_attempts(const std::vector<Race::Pending>& pending, int timeout_ms, std::vector<char>& ended) {
    HandleSet writable, failed;
    set_clear(writable);
    set_clear(failed);
    for (const auto& p : pending) {
        set_add(writable, p.socket.native_handle());
        set_add(failed, p.socket.native_handle());
    }
    timeval tv{timeout_ms / 1000, (timeout_ms % 1000) * 1000};
    int rc = ::select(0, nullptr, as_fd_set(&writable), as_fd_set(&failed), timeout_ms < 0 ? nullptr : &tv);
    ended.assign(pending.size(), 0);
    for (std::size_t i = 0; rc > 0 && i < pending.size(); ++i) {
        native_handle_type h = pending[i].socket.native_handle();
        ended[i] = set_has(writable, h) || set_has(failed, h);
    }
    return rc;
}
#else
SOCKETS_DECL int wait_attempts(const std::vector<Race::Pending>& pending, int timeout_ms, std::vector<char>& ended) {
    std::vector<pollfd_type> fds(pending.size());
    for (std::size_t i = 0; i < pending.size(); ++i) {
        fds[i].fd = pending[i].socket.native_handle();
        fds[i].events = poll_write;
    }
    int rc = poll_handles(fds.data(), fds.size(), timeout_ms);
    ended.assign(pending.size(), 0);
    for (std::size_t i = 0; rc > 0 && i < pending.size(); ++i) ended[i] = fds[i].revents != 0;
    return rc;
}
#endif

// The shorter of two poll timeouts (-1: forever).
SOCKETS_DECL int sooner_ms(int a, int b) noexcept { return a < 0 ? b : b < 0 ? a : a < b ? a : b; }

// Collects the attempts that ended; returns the connected one started first, if any.
SOCKETS_DECL Socket collect_ended(Race& race, const std::vector<char>& ended) {
    Socket winner;
    std::vector<Race::Pending> still;
    for (std::size_t i = 0; i < ended.size(); ++i) {
        Race::Pending& p = race.pending[i];
        if (!ended[i]) {
            still.push_back(std::move(p));
            continue;
        }
        std::error_code ec;
        p.socket.finish_connect(ec);
        if (ec) race.failed.push_back({p.address, ec});
        else if (!winner) winner = std::move(p.socket);
    }
    race.pending = std::move(still);
    return winner;
}

// The race itself. On failure, race.failed holds every attempt (pending ones as timed_out).
SOCKETS_DECL Socket race_connect(Race& race, const Deadline& deadline, Timeout attempt_delay, std::error_code& ec) {
    ec.clear();
    if (race.order.empty()) {
        ec = std::make_error_code(std::errc::invalid_argument);  // nothing to connect to
        return Socket();
    }
    Deadline next_start;  // when the next candidate joins; due at once for the first
    bool due = true;
    std::vector<char> ended;
    for (;;) {
        // Nothing new starts after the deadline, except the first attempt of a zero timeout.
        while (due && race.untried() && race.pending.size() < max_racing &&
               (race.next == 0 || !deadline.expired())) {
            std::size_t failures = race.failed.size();
            Socket winner = start_attempt(race);
            if (winner) return winner;
            due = race.failed.size() != failures;  // failed at once: start the next at once
            if (!due) next_start = Deadline(attempt_delay);
        }
        if (!race.in_flight() && !race.untried()) {
            ec = race.failed.back().error;
            return Socket();
        }
        int wait_ms = race.untried() ? sooner_ms(deadline.remaining_ms(), next_start.remaining_ms())
                                     : deadline.remaining_ms();
        if (!race.backlogged.empty()) wait_ms = sooner_ms(wait_ms, race.backoff_ms);
        int rc = race.pending.empty() ? sleep_ms(wait_ms) : wait_attempts(race.pending, wait_ms, ended);
        if (rc < 0 && !is_interrupted(last_error_code())) {
            ec = last_error();
            return Socket();
        }
        // Interrupted: look again, before the deadline below can end a race whose outcome
        // (with a zero timeout, its only look) the signal kept from being read.
        if (rc < 0) continue;
        const std::size_t failures = race.failed.size();
        if (rc > 0) {
            Socket winner = collect_ended(race, ended);
            if (winner) return winner;
        }
        if (!race.backlogged.empty()) {
            Socket winner = retry_backlogged(race);
            if (winner) return winner;
        }
        if (race.failed.size() != failures) due = true;  // one failed: start the next at once
        if (next_start.expired()) due = true;
        if (deadline.expired()) {
            if (!race.in_flight() && !race.untried()) continue;  // all ended: report the last error
            for (const auto& p : race.pending) race.failed.push_back({p.address, timed_out()});
            for (const auto& p : race.backlogged) race.failed.push_back({p.address, timed_out()});
            race.pending.clear();
            race.backlogged.clear();
            ec = timed_out();
            return Socket();
        }
    }
}

// Races the candidates; the winner is handed back blocking, like a plain connect's socket.
SOCKETS_DECL Socket connect_race(Race& race, const Deadline& deadline, const ConnectOptions& options, std::error_code& ec) {
    if (race.order.size() == 1) {  // nothing to race: the plain connect, which also waits out
        race.next = 1;             // a full Unix-domain backlog and honours SO_SNDTIMEO
        Socket one = connect_one(race.order[0], deadline, ec);
        if (ec) race.failed.push_back({race.order[0], ec});
        return one;
    }
    Socket s = race_connect(race, deadline, Timeout(options.attempt_delay), ec);
    race.pending.clear();  // the losers: closed now, not when the caller's race goes
    race.backlogged.clear();
    if (!ec) s.set_nonblocking(false, ec);
    if (ec) s = Socket();
    return s;
}

SOCKETS_DECL std::string describe_attempts(std::string head, const std::vector<ConnectAttempt>& failed,
                                           std::size_t untried) {
    if (failed.size() == 1 && untried == 0) {
        std::string address = failed[0].address.to_string();
        if (head == "connect") return head + " " + address;
        return head.compare(8, std::string::npos, address) == 0 ? head : head + " (" + address + ")";
    }
    std::string list;
    for (const auto& attempt : failed)
        list += (list.empty() ? "" : "; ") + attempt.address.to_string() + ": " + attempt.error.message();
    if (untried > 0) list += (list.empty() ? "" : "; ") + std::to_string(untried) + " more not tried";
    return list.empty() ? head : head + " (" + list + ")";
}

SOCKETS_DECL std::string describe_race(std::string head, const Race& race) {
    return describe_attempts(std::move(head), race.failed, race.order.size() - race.next);
}

// Resolution bounded by the deadline. getaddrinfo cannot be cancelled, so it runs on a detached
// thread. The job is shared by the caller and that thread, reference-counted: giving up at the
// deadline leaks nothing, and the thread frees everything when getaddrinfo finally returns.
struct ResolveJob {
    ResolveJob(std::string_view host_, int port_) : host(host_), port(port_) {}
    RefCount references = 2;  // the caller's and the thread's
    Completion finished;      // set once addresses and ec are final
    std::string host;
    int port;
    std::vector<Address> addresses;
    std::error_code ec;
};

SOCKETS_DECL void release_job(ResolveJob* job) noexcept {
    if (ref_release(job->references)) delete job;
}

SOCKETS_DECL void run_resolve_job(void* arg) {
    auto* job = static_cast<ResolveJob*>(arg);
#if !defined(SOCKETS_NO_EXCEPTIONS)
    // Nothing may escape a detached thread: running out of memory is this lookup's error.
    try {
        job->addresses = resolve(job->host, job->port, job->ec);
    } catch (const std::exception&) {
        job->ec = std::make_error_code(std::errc::not_enough_memory);
    }
#else
    job->addresses = resolve(job->host, job->port, job->ec);
#endif
    job->finished.set();
    release_job(job);
}

SOCKETS_DECL std::vector<Address> resolve_until(std::string_view host, int port, const Deadline& deadline,
                                          std::error_code& ec) {
    ec.clear();
    if (!deadline.finite()) return resolve(host, port, ec);
    std::error_code not_ip;
    Address numeric = Address::from_ip(host, port, not_ip);
    if (!not_ip) return {numeric};  // no resolver, no thread
    // A lookup cannot be tried without waiting (getaddrinfo blocks, for seconds against a dead
    // DNS server): a deadline already gone, zero or 1 us, leaves no time for one.
    if (deadline.expired()) {
        ec = timed_out();
        return {};
    }
    auto* job = new ResolveJob(host, port);
    ec = job->finished.open();
    if (!ec) ec = start_detached_thread<run_resolve_job>(job);
    if (ec) {  // no thread: the job is the caller's alone
        delete job;
        return {};
    }
    while (!job->finished.wait(deadline.remaining_ms())) {
        if (deadline.expired()) {
            release_job(job);
            ec = timed_out();
            return {};
        }
    }
    ec = job->ec;
    std::vector<Address> found = std::move(job->addresses);
    release_job(job);
    return found;
}

SOCKETS_DECL Socket connect_any(std::string_view host, int port, const Deadline& deadline, const ConnectOptions& options,
                          std::error_code& ec, Race& race) {
    std::vector<Address> addresses = resolve_until(host, port, deadline, ec);
    if (ec) return Socket();
    race.order = interleave_families(addresses);
    return connect_race(race, deadline, options, ec);
}

SOCKETS_DECL std::string host_port_text(std::string_view host, int port) {
    return "connect " + std::string(host) + ":" + std::to_string(port);
}

#if !defined(SOCKETS_NO_EXCEPTIONS)
SOCKETS_DECL Socket connect_any_or_throw(std::string_view host, int port, const Deadline& deadline,
                                   const ConnectOptions& options) {
    std::error_code ec;
    Race race;
    Socket s = connect_any(host, port, deadline, options, ec, race);
    if (!ec) return s;
    if (race.order.empty()) throw_exception(ConnectError(ec, host_port_text(host, port), {}));  // resolution failed
    std::string what = describe_race(host_port_text(host, port), race);  // before race.failed moves
    throw_exception(ConnectError(ec, what, std::move(race.failed)));
}

SOCKETS_DECL Socket connect_all_or_throw(const std::vector<Address>& candidates, const Deadline& deadline,
                                   const ConnectOptions& options) {
    std::error_code ec;
    Race race;
    race.order = interleave_families(candidates);
    Socket s = connect_race(race, deadline, options, ec);
    if (!ec) return s;
    std::string what = describe_race("connect", race);  // before race.failed moves
    throw_exception(ConnectError(ec, what, std::move(race.failed)));
}
#endif

}  // namespace detail

// ---- one address -------------------------------------------------------------------------

SOCKETS_DECL Socket connect_to(const Address& address, std::error_code& ec) {
    return detail::connect_one(address, detail::Deadline(), ec);
}
SOCKETS_DECL Socket connect_to(const Address& address, Timeout timeout, std::error_code& ec) {
    return detail::connect_one(address, detail::Deadline(timeout), ec);
}
#if !defined(SOCKETS_NO_EXCEPTIONS)
SOCKETS_DECL Socket connect_to(const Address& address) {
    std::error_code ec;
    Socket s = connect_to(address, ec);
    if (ec) detail::throw_error(ec, detail::describe("connect", address));
    return s;
}
SOCKETS_DECL Socket connect_to(const Address& address, Timeout timeout) {
    std::error_code ec;
    Socket s = connect_to(address, timeout, ec);
    if (ec) detail::throw_error(ec, detail::describe("connect", address));
    return s;
}
#endif

// ---- several candidate addresses: raced (RFC 8305) ---------------------------------------

SOCKETS_DECL Socket connect_to(const std::vector<Address>& candidates, Timeout timeout, const ConnectOptions& options,
                               std::error_code& ec) {
    detail::Race race;
    race.order = detail::interleave_families(candidates);
    return detail::connect_race(race, detail::Deadline(timeout), options, ec);
}
SOCKETS_DECL Socket connect_to(const std::vector<Address>& candidates, Timeout timeout, std::error_code& ec) {
    return connect_to(candidates, timeout, ConnectOptions(), ec);
}
SOCKETS_DECL Socket connect_to(const std::vector<Address>& candidates, std::error_code& ec) {
    detail::Race race;
    race.order = detail::interleave_families(candidates);
    return detail::connect_race(race, detail::Deadline(), ConnectOptions(), ec);
}
#if !defined(SOCKETS_NO_EXCEPTIONS)
SOCKETS_DECL Socket connect_to(const std::vector<Address>& candidates, Timeout timeout, const ConnectOptions& options) {
    return detail::connect_all_or_throw(candidates, detail::Deadline(timeout), options);
}
SOCKETS_DECL Socket connect_to(const std::vector<Address>& candidates, Timeout timeout) {
    return detail::connect_all_or_throw(candidates, detail::Deadline(timeout), ConnectOptions());
}
SOCKETS_DECL Socket connect_to(const std::vector<Address>& candidates) {
    return detail::connect_all_or_throw(candidates, detail::Deadline(), ConnectOptions());
}
#endif

// ---- a host name: resolved, then raced -----------------------------------------------------

SOCKETS_DECL Socket connect_to(std::string_view host, int port, Timeout timeout, const ConnectOptions& options,
                               std::error_code& ec) {
    detail::Race race;
    return detail::connect_any(host, port, detail::Deadline(timeout), options, ec, race);
}
SOCKETS_DECL Socket connect_to(std::string_view host, int port, Timeout timeout, std::error_code& ec) {
    return connect_to(host, port, timeout, ConnectOptions(), ec);
}
SOCKETS_DECL Socket connect_to(std::string_view host, int port, std::error_code& ec) {
    detail::Race race;
    return detail::connect_any(host, port, detail::Deadline(), ConnectOptions(), ec, race);
}
#if !defined(SOCKETS_NO_EXCEPTIONS)
SOCKETS_DECL Socket connect_to(std::string_view host, int port, Timeout timeout, const ConnectOptions& options) {
    return detail::connect_any_or_throw(host, port, detail::Deadline(timeout), options);
}
SOCKETS_DECL Socket connect_to(std::string_view host, int port, Timeout timeout) {
    return detail::connect_any_or_throw(host, port, detail::Deadline(timeout), ConnectOptions());
}
SOCKETS_DECL Socket connect_to(std::string_view host, int port) {
    return detail::connect_any_or_throw(host, port, detail::Deadline(), ConnectOptions());
}
#endif

SOCKETS_DECL Socket connect_to(std::string_view host_port, Timeout timeout, const ConnectOptions& options,
                               std::error_code& ec) {
    std::string_view host;
    int port = 0;
    if (!detail::split_host_port(host_port, host, port, ec)) return Socket();
    return connect_to(host, port, timeout, options, ec);
}
SOCKETS_DECL Socket connect_to(std::string_view host_port, Timeout timeout, std::error_code& ec) {
    return connect_to(host_port, timeout, ConnectOptions(), ec);
}
SOCKETS_DECL Socket connect_to(std::string_view host_port, std::error_code& ec) {
    std::string_view host;
    int port = 0;
    if (!detail::split_host_port(host_port, host, port, ec)) return Socket();
    return connect_to(host, port, ec);
}
#if !defined(SOCKETS_NO_EXCEPTIONS)
namespace detail {
// Text that does not split is a ConnectError with no attempts, as a name that does not resolve.
SOCKETS_DECL Socket connect_text_or_throw(std::string_view host_port, const Deadline& deadline,
                                          const ConnectOptions& options) {
    std::string_view host;
    int port = 0;
    std::error_code ec;
    if (!split_host_port(host_port, host, port, ec))
        throw_exception(ConnectError(ec, "connect to \"" + std::string(host_port) + "\"", {}));
    return connect_any_or_throw(host, port, deadline, options);
}
}  // namespace detail
SOCKETS_DECL Socket connect_to(std::string_view host_port, Timeout timeout, const ConnectOptions& options) {
    return detail::connect_text_or_throw(host_port, detail::Deadline(timeout), options);
}
SOCKETS_DECL Socket connect_to(std::string_view host_port, Timeout timeout) {
    return detail::connect_text_or_throw(host_port, detail::Deadline(timeout), ConnectOptions());
}
SOCKETS_DECL Socket connect_to(std::string_view host_port) {
    return detail::connect_text_or_throw(host_port, detail::Deadline(), ConnectOptions());
}
#endif

SOCKETS_MODE_NAMESPACE_END
}  // namespace sockets
