/// @file
/// Poller: which of many sockets are ready, from one thread.
///
/// @code
///   Poller poller;                                  // the best backend the platform has
///   poller.add(listener, Events::readable, 0);      // token 0: yours to choose
///   for (const Ready& r : poller.wait(std::chrono::seconds(1)))
///       if (r.token == 0) ...                       // only ready entries come back
/// @endcode
///
/// Readiness is not completion: readable means one recv will not block, not that a whole
/// message is there. Backends, all with the same interface and the same event model:
/// @verbatim
///   SelectPoller  select(): everywhere; limited to FD_SETSIZE (refused beyond it, never overrun)
///   PollPoller    poll() / WSAPoll(): no descriptor limit, O(n) per wait
///   EpollPoller   epoll (Linux): wait cost independent of how many sockets are registered
/// @endverbatim
/// All are level-triggered: a socket stays ready until you drain it.
///
/// Event model (every backend; tests/poller_conformance_test.cpp checks it):
/// @verbatim
///   readable  recv/accept will not block: data, a pending connection, or the end of the stream.
///             The peer's shutdown(write) (half-close) and the peer's close() look the same to
///             TCP (a FIN): both are readable, recv returns 0, and you may still send.
///   writable  send will not block; a non-blocking connect has finished (check finish_connect).
///   error     the socket has a pending error; never requested. A refused connect: error and
///             writable on every backend (SelectPoller asks poll() once, on the first writable
///             report after writable was requested; SO_ERROR is left for finish_connect). A
///             reset: error, hang_up and readable, except on SelectPoller (readable only).
///   hang_up   the connection is over in both directions (reset by the peer, or the peer's FIN
///             after our own shutdown(write)); never on a half-close; always with readable, so
///             recv reports how it ended. Never requested. SelectPoller cannot see it
///             (reports_hang_up == false): there the same socket is readable and recv tells.
/// @endverbatim
///
/// Batches: wait() returns a ReadyList, valid until the next wait. Removing a registration (or
/// giving it a new token with modify, or replacing a stale one with add) while you walk the
/// batch drops its not-yet-visited entry: the loop never sees an event for a registration that
/// no longer exists. The Ready you are holding stays intact.
///
/// Lifetime rule: remove() a socket before you close it. If you close it first, the poller
/// notices instead of misbehaving (no busy loop, no refused number): poll/select find the closed
/// descriptor at the next wait, drop the registration and report it once, as Events::error
/// alone; a number already reused by another socket is found by comparing identity (fstat) on
/// the 1st, 9th, 17th... report, so its readiness is reported under the old token at most 7
/// times before that error (a check on every report would cost a third of a small poll);
/// remove() of it reports std::errc::bad_file_descriptor and forgets it; add() of a new
/// socket that got the same number is accepted and never inherits the old one's events. epoll
/// keeps a closed descriptor's registration alive while a duplicate (dup, fork) holds the socket
/// open, and only a system call per event could see it at once: a registration is re-checked on
/// its 1st, 2nd, 4th, 8th... report (then the epoll set is rebuilt to purge it), so a socket
/// reported k times before it was closed may still be reported up to k more times. (epoll
/// without a duplicate: the kernel forgets it silently, and size() counts it until remove()
/// or add() meets its number.) The rebuild uses a descriptor held in reserve, so running out of
/// descriptors does not stop it; if it fails anyway, the stale registration is still reported
/// once and forgotten, and a wait that meets only its ghosts fails with the error (no spin). Winsock has no identity to compare: on Windows a new socket
/// given a closed registration's handle before the next wait is refused as already_registered.
///
/// wake() may be called from any thread: the wait in progress (or the next one) returns, with
/// no Ready entry for the wake-up.
///
/// Pollers are movable: the registrations go with the move. A moved-from poller fails every
/// call with errc::not_open (wait at once, whatever its timeout), has size() 0 and ignores
/// wake(), until a poller is assigned to it.
#pragma once

#include <chrono>
#include <new>
#include <cstddef>
#include <cstdint>
#include <system_error>
#include <vector>

#include "detail/io.hpp"
#include "config.hpp"
#include "detail/platform.hpp"
#include "error.hpp"
#include "socket.hpp"

#if !defined(_WIN32)
#include <sys/stat.h>
#endif
#if defined(__linux__)
#include <sys/eventfd.h>
#endif

namespace sockets {
SOCKETS_MODE_NAMESPACE_BEGIN

/// What a socket is ready for, or asked to wait for: bit flags.
enum class Events : unsigned {
    none = 0,
    readable = 1,   ///< recv/accept will not block (data, a connection, or end of stream)
    writable = 2,   ///< send will not block; a connecting socket finished (check finish_connect)
    error = 4,      ///< the socket has a pending error, or was closed while registered (never requested)
    hang_up = 8,    ///< over in both directions; always with readable (never requested; not select)
};
/// Bit operations on Events.
///@{
constexpr Events operator|(Events a, Events b) noexcept {
    return static_cast<Events>(static_cast<unsigned>(a) | static_cast<unsigned>(b));
}
constexpr Events operator&(Events a, Events b) noexcept {
    return static_cast<Events>(static_cast<unsigned>(a) & static_cast<unsigned>(b));
}
constexpr Events& operator|=(Events& a, Events b) noexcept { return a = a | b; }
///@}
/// True unless e is Events::none.
constexpr bool any(Events e) noexcept { return e != Events::none; }

/// One ready socket: its token, its handle and what happened.
struct Ready {
    /// The token given to add() or modify().
    std::uint64_t token;
    /// The socket's native handle.
    native_handle_type handle;
    /// What happened.
    Events events;
    /// True if any of the flags in e happened.
    bool has(Events e) const noexcept { return any(events & e); }
};

/// One wait's batch: iterating skips entries whose registration was removed (or re-tokened)
/// after the wait returned. Valid until the next wait or the poller's destruction.
class ReadyList {
public:
    /// A forward iterator over the live entries.
    class iterator {
    public:
        /// Standard iterator types.
        ///@{
        using value_type = Ready;
        using reference = const Ready&;
        using pointer = const Ready*;
        using difference_type = std::ptrdiff_t;
        using iterator_category = std::forward_iterator_tag;
        ///@}

        iterator() noexcept = default;
        /// Used by ReadyList::begin() and ReadyList::end().
        iterator(const Ready* at, const Ready* end, const unsigned char* dead) noexcept
            : at_(at), end_(end), dead_(dead) {
            skip();
        }
        /// The entry.
        ///@{
        reference operator*() const noexcept { return *at_; }
        pointer operator->() const noexcept { return at_; }
        ///@}
        /// Checks liveness only when moving on, so the entry being processed stays put even if
        /// its own registration is removed meanwhile.
        ///@{
        iterator& operator++() noexcept {
            ++at_;
            ++dead_;
            skip();
            return *this;
        }
        iterator operator++(int) noexcept {
            iterator old = *this;
            ++*this;
            return old;
        }
        ///@}
        /// Same position.
        ///@{
        friend bool operator==(const iterator& a, const iterator& b) noexcept { return a.at_ == b.at_; }
        friend bool operator!=(const iterator& a, const iterator& b) noexcept { return a.at_ != b.at_; }
        ///@}

    private:
        void skip() noexcept {
            while (at_ != end_ && *dead_) {
                ++at_;
                ++dead_;
            }
        }
        const Ready* at_ = nullptr;
        const Ready* end_ = nullptr;
        const unsigned char* dead_ = nullptr;
    };

    ReadyList() noexcept = default;
    /// A view of count entries at first; dead marks the entries to skip (the backends make these).
    ReadyList(const Ready* first, std::size_t count, const unsigned char* dead) noexcept
        : first_(first), count_(count), dead_(dead) {}

    /// Iteration over the live entries.
    ///@{
    iterator begin() const noexcept { return iterator(first_, first_ + count_, dead_); }
    iterator end() const noexcept { return iterator(first_ + count_, first_ + count_, dead_ + count_); }
    ///@}
    /// True if no live entry is left.
    bool empty() const noexcept { return begin() == end(); }
    /// Live entries (O(n): counts them).
    std::size_t size() const noexcept {
        std::size_t n = 0;
        for (std::size_t i = 0; i < count_; ++i) n += dead_[i] ? 0 : 1;
        return n;
    }
    /// The i-th live entry (O(n)); i < size().
    const Ready& operator[](std::size_t i) const noexcept {
        auto it = begin();
        while (i--) ++it;
        return *it;
    }
    /// The first live entry; the list must not be empty().
    const Ready& front() const noexcept { return *begin(); }

private:
    const Ready* first_ = nullptr;
    std::size_t count_ = 0;
    const unsigned char* dead_ = nullptr;
};

namespace detail {

// What a handle refers to, so "the socket we registered" can be told from "a new socket that
// got the number of a closed one" (POSIX reuses the lowest free descriptor at once).
struct HandleIdentity {
    std::uint64_t device = 0;
    std::uint64_t inode = 0;
    friend bool operator==(const HandleIdentity& a, const HandleIdentity& b) noexcept {
        return a.device == b.device && a.inode == b.inode;
    }
    friend bool operator!=(const HandleIdentity& a, const HandleIdentity& b) noexcept { return !(a == b); }
};

// False when h names no open socket (closed, never opened, or absurd).
SOCKETS_DECL bool identify(native_handle_type h, HandleIdentity& id) noexcept;

inline std::error_code closed_handle() noexcept { return std::make_error_code(std::errc::bad_file_descriptor); }

// The same answer from every backend for a handle that cannot be registered.
SOCKETS_DECL bool validate(native_handle_type h, HandleIdentity& id, std::error_code& ec) noexcept;

// Grows capacity geometrically, so reserving "one more" before each insert stays amortised O(1).
template <class T>
void reserve_for(std::vector<T>& v, std::size_t n) {
    if (v.capacity() < n) v.reserve(n < 2 * v.capacity() ? 2 * v.capacity() : n);
}

// Makes wait() return from another thread: eventfd (Linux), a pipe (other POSIX), a loopback
// TCP pair (Windows, where only sockets can be waited on).
class Waker {
public:
    Waker();
    native_handle_type handle() const noexcept { return read_.native_handle(); }

    // Thread-safe. A full pipe/buffer (EAGAIN) already means a wake-up is pending.
    void wake() noexcept;
    void drain() noexcept;

private:
    Socket read_;   // not always a socket, but a descriptor Socket closes correctly
    Socket write_;  // unused with eventfd
};

// One registration, whatever the backend.
struct Registration {
    native_handle_type handle;
    Events events;
    std::uint64_t token;
    HandleIdentity identity;
    std::uint32_t generation = 0;    // epoll: tells a ghost of an older registration apart
    std::uint32_t reports = 0;       // how often reported: schedules the stale check
    std::uint64_t batch = 0;         // the wait attempt that last reported it...
    std::size_t ready_index = 0;     // ...and where
    bool stale = false;              // found closed/replaced during a wait: dropped after it
    bool awaiting_write = false;     // Windows: writable requested and not yet reported
};

// Handle -> position in a dense vector of registrations, so add/modify/remove are O(1) and
// waits walk only the registered entries. Small handles (the usual case) are looked up in a
// table indexed by handle, one load per event; a handle past the table's bound goes to a sorted
// list instead (binary search; the rare case, and no <unordered_map> for every includer), so an
// odd large number never costs a huge table. insert() is strong:
// everything that can throw happens before anything changes.
class Registry {
public:
    Registration* find(native_handle_type h) noexcept {
        std::size_t position;
        return locate(h, position) ? &entries_[position] : nullptr;
    }
    bool insert(const Registration& entry);
    // Returns the position the removed entry had, for parallel arrays to mirror the swap.
    std::size_t erase(Registration* e) noexcept;
    std::vector<Registration>& entries() noexcept { return entries_; }
    std::size_t size() const noexcept { return entries_.size(); }

private:
    static constexpr std::uint64_t table_bound = 65536;  // 256 KiB of table at most
    static bool direct(native_handle_type h) noexcept { return static_cast<std::uint64_t>(h) < table_bound; }
    bool locate(native_handle_type h, std::size_t& position) const noexcept {
        if (direct(h)) {
            std::size_t at = static_cast<std::size_t>(h);
            if (at >= table_.size() || table_[at] == 0) return false;
            position = table_[at] - 1;
            return true;
        }
        std::size_t at = spill_lower_bound(h);
        if (at == spill_.size() || spill_[at].handle != h) return false;
        position = spill_[at].position;
        return true;
    }
    std::size_t spill_lower_bound(native_handle_type h) const noexcept {
        std::size_t low = 0, high = spill_.size();
        while (low < high) {
            std::size_t middle = low + (high - low) / 2;
            if (spill_[middle].handle < h) low = middle + 1;
            else high = middle;
        }
        return low;
    }
    // Only for handles already present: never allocates.
    void set(native_handle_type h, std::size_t position, bool present) noexcept;

    std::vector<Registration> entries_;
    std::vector<std::uint32_t> table_;                               // handle -> position + 1
    struct Spilled {
        native_handle_type handle;
        std::size_t position;
    };
    std::vector<Spilled> spill_;                                      // handles >= table_bound, sorted
};

// What every backend shares: the registry, the batch and its liveness marks, the waker and
// the wait loop.
// Move assignment by destroy-and-move-construct, skipped for self-assignment: the members'
// own self-move (std::vector's) would empty the tables the registry indexes into.
template <class T>
T& move_assign(T& self, T& other) noexcept {
    if (&self != &other) {
        self.~T();
        ::new (static_cast<void*>(&self)) T(std::move(other));
    }
    return self;
}

class PollerCore {
public:
    std::size_t size() const noexcept { return registry_.size(); }
    void wake() noexcept {
        if (waker_.handle() != invalid_handle) waker_.wake();
    }

protected:
    // A moved-from poller has no wake-up handle (and no epoll set): every call is not_open,
    // where it would otherwise hand select a negative descriptor or wait forever on nothing.
    bool usable(std::error_code& ec) const noexcept {
        ec.clear();
        if (waker_.handle() != invalid_handle) return true;
        ec = errc::not_open;
        return false;
    }

    // The registration for h; if it names a closed or different socket it is dropped (via
    // drop) and ec says so.
    template <class Drop>
    Registration* find_live(native_handle_type h, std::error_code& ec, Drop drop) {
        Registration* e = registry_.find(h);
        if (!e) {
            ec = errc::not_registered;
            return nullptr;
        }
        HandleIdentity id;
        if (!identify(h, id) || id != e->identity) {
            ec = closed_handle();
            drop(e);
            return nullptr;
        }
        return e;
    }

    // add's common half: validation, and a stale registration of the same number (its socket
    // was closed without remove) is dropped via drop so the new socket can take its place.
    template <class Drop>
    bool admit(native_handle_type h, HandleIdentity& id, std::error_code& ec, Drop drop) {
        ec.clear();
        if (!validate(h, id, ec)) return false;
        if (Registration* old = registry_.find(h)) {
            if (old->identity == id) {
                ec = errc::already_registered;
                return false;
            }
            drop(old);
        }
        return true;
    }

    // The entry of this registration in the batch, if not yet visited, must not be delivered.
    void forget(const Registration& e) noexcept {
        if (e.batch == batch_ && e.ready_index < dead_.size()) dead_[e.ready_index] = 1;
    }
    void retoken(Registration& e, std::uint64_t token) noexcept {
        if (e.token != token) forget(e);
        e.token = token;
    }

    // At most one entry per registration per attempt, so the reserved capacity always fits.
    void report(Registration& e, Events events) noexcept;
    // A closed socket is reported once, as error alone, and dropped after the attempt.
    void report_stale(Registration& e) noexcept;
    // epoll: re-checks the identity on the 1st, 2nd, 4th, 8th... report: a ghost that the
    // kernel still reports through a duplicate is found without a system call per event.
    static bool still_same(Registration& e) noexcept;
    // poll/select see a closed number themselves; only a number already reused by another
    // socket needs the identity. Checking every report costs an fstat per ready entry (about a
    // third of a 10-descriptor poll: measured), so it is checked on the 1st, 9th, 17th...
    // report: a reused number is reported under the old token at most 7 times, a bound that
    // does not grow with the registration's age (epoll's schedule does). Winsock has no
    // identity to compare: there the cheaper schedule is enough.
    static constexpr std::uint32_t identity_period = 8;
    static bool still_same_periodic(Registration& e) noexcept {
#if defined(_WIN32)
        return still_same(e);
#else
        return e.reports++ % identity_period != 0 || same_file(e);
#endif
    }
    // An error on a socket waiting for writable is writable too (a send fails at once; a connect
    // is over): Winsock's select and WSAPoll report a failed connect without writability.
    static Events writable_with_error(const Registration& e, Events got) noexcept {
        return (any(got & Events::error) && any(e.events & Events::writable)) ? Events::writable : Events::none;
    }
    static bool same_file(const Registration& e) noexcept;

    // The shared wait loop: retries EINTR with the time left and never returns empty-handed
    // before the deadline unless woken (poll may wake a little early; a signal may interrupt
    // it). wait_once(timeout_ms, woken) returns the OS result (< 0: error in last_error_code()).
    template <class WaitOnce>
    ReadyList run(const Deadline& deadline, std::error_code& ec, WaitOnce wait_once) {
        ec.clear();
        // The only allocation of a wait, before anything changes: at most one entry per
        // registration, so the attempts below never allocate.
        reserve_for(ready_, registry_.size());
        reserve_for(dead_, registry_.size());
        for (;;) {
            ready_.clear();
            dead_.clear();
            ++batch_;
            bool woken = false;
            int rc = wait_once(deadline.remaining_ms(), woken);
            if (rc < 0) {
                int code = last_error_code();
                if (is_interrupted(code)) continue;
                ec = os_error(code);
                ready_.clear();
                dead_.clear();
                break;
            }
            if (woken || !ready_.empty() || deadline.expired() || deadline.remaining_ms() == 0) break;
        }
        return ReadyList(ready_.data(), ready_.size(), dead_.data());
    }

    Registry registry_;
    Waker waker_;
    bool any_stale_ = false;

private:
    std::vector<Ready> ready_;
    std::vector<unsigned char> dead_;  // parallel to ready_
    std::uint64_t batch_ = 0;
};

inline void throw_poller(std::error_code ec, const char* operation) { throw_if(ec, operation); }

}  // namespace detail

/// The interface every backend shares, written once: the throwing forms and Socket overloads
/// call the backend's error_code forms (add/modify/remove/wait_until).
template <class Backend>
class PollerInterface {
public:
    /// Registers a socket for events (readable, writable or both); token comes back in its Ready
    /// entries. A socket already registered is errc::already_registered.
    ///@{
#if !defined(SOCKETS_NO_EXCEPTIONS)
    void add(native_handle_type h, Events events, std::uint64_t token) {
        std::error_code ec;
        self().add(h, events, token, ec);
        detail::throw_poller(ec, "poller add");
    }
#endif
    /// The same for a Socket, reporting errors in ec.
    void add(const Socket& s, Events events, std::uint64_t token, std::error_code& ec) {
        self().add(s.native_handle(), events, token, ec);
    }
#if !defined(SOCKETS_NO_EXCEPTIONS)
    /// The same for a Socket.
    void add(const Socket& s, Events events, std::uint64_t token) { add(s.native_handle(), events, token); }
#endif
    ///@}

    /// Changes what a registered socket waits for, and its token. A socket not registered is
    /// errc::not_registered.
    ///@{
#if !defined(SOCKETS_NO_EXCEPTIONS)
    void modify(native_handle_type h, Events events, std::uint64_t token) {
        std::error_code ec;
        self().modify(h, events, token, ec);
        detail::throw_poller(ec, "poller modify");
    }
#endif
    /// The same for a Socket, reporting errors in ec.
    void modify(const Socket& s, Events events, std::uint64_t token, std::error_code& ec) {
        self().modify(s.native_handle(), events, token, ec);
    }
#if !defined(SOCKETS_NO_EXCEPTIONS)
    /// The same for a Socket.
    void modify(const Socket& s, Events events, std::uint64_t token) { modify(s.native_handle(), events, token); }
#endif
    ///@}

    /// Stops watching a socket: remove() it before you close it. A socket not registered is
    /// errc::not_registered.
    ///@{
#if !defined(SOCKETS_NO_EXCEPTIONS)
    void remove(native_handle_type h) {
        std::error_code ec;
        self().remove(h, ec);
        detail::throw_poller(ec, "poller remove");
    }
#endif
    /// The same for a Socket, reporting errors in ec.
    void remove(const Socket& s, std::error_code& ec) { self().remove(s.native_handle(), ec); }
#if !defined(SOCKETS_NO_EXCEPTIONS)
    /// The same for a Socket.
    void remove(const Socket& s) { remove(s.native_handle()); }
#endif
    ///@}

    /// The ready entries (valid until the next wait). Empty only when the timeout expired, an
    /// error occurred or wake() was called. Timeout::zero() polls once; Timeout::max() waits
    /// however long it takes. May throw std::bad_alloc (only when more sockets are registered
    /// than at the previous wait).
    ///@{
    ReadyList wait(Timeout timeout, std::error_code& ec) { return self().wait_until(detail::Deadline(timeout), ec); }
#if !defined(SOCKETS_NO_EXCEPTIONS)
    /// The same, throwing on error.
    ReadyList wait(Timeout timeout) {
        std::error_code ec;
        ReadyList ready = wait(timeout, ec);
        detail::throw_poller(ec, "poller wait");
        return ready;
    }
#endif
    ///@}
    /// Waits until something is ready (or wake()), however long that takes.
    ///@{
    ReadyList wait(std::error_code& ec) { return self().wait_until(detail::Deadline(), ec); }
#if !defined(SOCKETS_NO_EXCEPTIONS)
    /// The same, throwing on error.
    ReadyList wait() {
        std::error_code ec;
        ReadyList ready = wait(ec);
        detail::throw_poller(ec, "poller wait");
        return ready;
    }
#endif
    ///@}

private:
    Backend& self() noexcept { return static_cast<Backend&>(*this); }
};

// ---- select ----------------------------------------------------------------------------------

/// select(): everywhere; limited to FD_SETSIZE (refused beyond it, never overrun).
class SelectPoller : public detail::PollerCore, public PollerInterface<SelectPoller> {
public:
    /// The throwing forms and the Socket overloads of add, modify and remove (see PollerInterface).
    ///@{
    using PollerInterface::add;
    using PollerInterface::modify;
    using PollerInterface::remove;
    ///@}
    /// Whether this backend ever reports Events::hang_up.
    static constexpr bool reports_hang_up = false;
    /// The backend's name ("select", "poll" or "epoll"), e.g. for logs.
    static constexpr const char* name = "select";

    SelectPoller();
    /// Movable: the registrations go with the move (see the file comment).
    SelectPoller(SelectPoller&&) noexcept = default;
    /// Move assignment; assigning a poller to itself leaves it as it was.
    SelectPoller& operator=(SelectPoller&& other) noexcept;

    /// Registers h for events, with token: the error_code form of PollerInterface::add.
    void add(native_handle_type h, Events events, std::uint64_t token, std::error_code& ec);
    /// Changes the events and token of h: the error_code form of PollerInterface::modify.
    void modify(native_handle_type h, Events events, std::uint64_t token, std::error_code& ec);
    /// Stops watching h: the error_code form of PollerInterface::remove.
    void remove(native_handle_type h, std::error_code& ec);

    /// Waits until deadline: the implementation of PollerInterface::wait.
    ReadyList wait_until(const detail::Deadline& deadline, std::error_code& ec);

private:
    // POSIX select folds a pending error into readable/writable. It is asked for only on the
    // first writable report after writable was requested (a connect's outcome: one system call
    // per connect, none per ordinary event); poll reads it without consuming SO_ERROR, which
    // finish_connect still needs. A reset of an established connection stays plain readable.
    static bool pending_error(native_handle_type h) noexcept;
    int select_once(detail::HandleSet& read, detail::HandleSet& write, detail::HandleSet& except, int timeout_ms) noexcept;
    // select fails as a whole on a closed handle: find the ones closed, report each once.
    bool find_closed() noexcept;
    void sweep() noexcept;
    void drop(detail::Registration* e) noexcept;
};

// ---- poll / WSAPoll --------------------------------------------------------------------------

/// poll() / WSAPoll(): no descriptor limit, O(n) per wait.
class PollPoller : public detail::PollerCore, public PollerInterface<PollPoller> {
public:
    /// The throwing forms and the Socket overloads of add, modify and remove (see PollerInterface).
    ///@{
    using PollerInterface::add;
    using PollerInterface::modify;
    using PollerInterface::remove;
    ///@}
    /// Whether this backend ever reports Events::hang_up.
    static constexpr bool reports_hang_up = true;
    /// The backend's name ("select", "poll" or "epoll"), e.g. for logs.
    static constexpr const char* name = "poll";

    PollPoller();
    /// Movable: the registrations go with the move (see the file comment).
    PollPoller(PollPoller&&) noexcept = default;
    /// Move assignment; assigning a poller to itself leaves it as it was.
    PollPoller& operator=(PollPoller&& other) noexcept;

    /// Registers h for events, with token: the error_code form of PollerInterface::add.
    void add(native_handle_type h, Events events, std::uint64_t token, std::error_code& ec);
    /// Changes the events and token of h: the error_code form of PollerInterface::modify.
    void modify(native_handle_type h, Events events, std::uint64_t token, std::error_code& ec);
    /// Stops watching h: the error_code form of PollerInterface::remove.
    void remove(native_handle_type h, std::error_code& ec);

    /// Waits until deadline: the implementation of PollerInterface::wait.
    ReadyList wait_until(const detail::Deadline& deadline, std::error_code& ec);

private:
    static Events translate(native_handle_type h, short got) noexcept;
    static short native_events(Events e) noexcept;

#if defined(_WIN32)
    // WSAPoll does not report a failed non-blocking connect before Windows 10 2004: Microsoft's
    // WSAPoll documentation says "As of Windows 10 version 2004, when a TCP socket fails to
    // connect, (POLLHUP | POLLERR | POLLWRNORM) is indicated", earlier versions indicate
    // nothing and a wait for writability never ends. While a socket waits for writability
    // (as a connecting socket does), WSAPoll waits in slices and select's except set, which
    // does report the failure, is asked after each.
    static constexpr int connect_check_ms = 100;
    int connect_slice(int timeout_ms) noexcept;
    void report_failed_connects() noexcept;
#else
    static int connect_slice(int timeout_ms) noexcept { return timeout_ms; }
    static void report_failed_connects() noexcept {}
#endif

    std::size_t position(const detail::Registration* e) noexcept;
    void drop(detail::Registration* e) noexcept;
    void erase(detail::Registration* e) noexcept;
    // Not drop: the stale entries' error reports in this batch must stay deliverable.
    void sweep() noexcept;

    std::vector<detail::pollfd_type> fds_;  // [0] the waker, then parallel to registry_.entries()
};

// ---- epoll (Linux) ---------------------------------------------------------------------------

#if defined(SOCKETS_HAS_EPOLL)
/// epoll (Linux): wait cost independent of how many sockets are registered.
class EpollPoller : public detail::PollerCore, public PollerInterface<EpollPoller> {
public:
    /// The throwing forms and the Socket overloads of add, modify and remove (see PollerInterface).
    ///@{
    using PollerInterface::add;
    using PollerInterface::modify;
    using PollerInterface::remove;
    ///@}
    /// Whether this backend ever reports Events::hang_up.
    static constexpr bool reports_hang_up = true;
    /// The backend's name ("select", "poll" or "epoll"), e.g. for logs.
    static constexpr const char* name = "epoll";

    EpollPoller();
    /// Movable: the registrations go with the move (see the file comment).
    EpollPoller(EpollPoller&&) noexcept = default;
    /// Move assignment; assigning a poller to itself leaves it as it was.
    EpollPoller& operator=(EpollPoller&& other) noexcept;

    /// Registers h for events, with token: the error_code form of PollerInterface::add.
    /// The kernel validates the descriptor before anything is allocated (an absurd number is
    /// EBADF, not a huge table); an allocation failure afterwards undoes the kernel's part.
    void add(native_handle_type h, Events events, std::uint64_t token, std::error_code& ec);
    /// Changes the events and token of h: the error_code form of PollerInterface::modify.
    void modify(native_handle_type h, Events events, std::uint64_t token, std::error_code& ec);
    /// Stops watching h: the error_code form of PollerInterface::remove.
    void remove(native_handle_type h, std::error_code& ec);

    /// Waits until deadline: the implementation of PollerInterface::wait.
    ReadyList wait_until(const detail::Deadline& deadline, std::error_code& ec);

private:
    static constexpr std::uint64_t waker_id = ~std::uint64_t{0};

    static Events translate(std::uint32_t got) noexcept;
    bool control(int op, native_handle_type h, Events events, std::uint32_t generation, std::error_code& ec);
    // A new epoll set holding the waker, in place of the old one. On failure: the failed
    // call's name (ec says why), and the old set is kept.
    const char* open_set(std::error_code& ec) noexcept;
    // A registration whose descriptor was closed may live on in the kernel (a duplicate keeps
    // the socket open) where no epoll_ctl can reach it: only a new epoll set forgets it.
    void drop_stale(detail::Registration* e) noexcept;
    // A descriptor held in reserve, so a rebuild still gets one when the process has run out
    // (the new set takes its slot; the old set's slot, freed, becomes the next reserve).
    void reserve_spare() noexcept;
    // Inside a wait, registrations found stale on the way are reported (once, as error);
    // outside one they are dropped silently, since the batch may be in the user's hands.
    // False if no new set could be made: the stale registrations are forgotten all the same
    // (never reported again), their ghosts stay in the old set until a later rebuild succeeds.
    bool rebuild(bool in_wait) noexcept;
    void erase_stale() noexcept;

    Socket epoll_;  // not a socket, but a descriptor Socket closes correctly
    Socket spare_;  // a duplicate of epoll_, closed to make room for a rebuild
    std::vector<::epoll_event> events_;
    std::uint32_t generation_ = 0;
    int rebuild_error_ = 0;
    bool rebuild_ = false;
};

/// The best backend the platform has: EpollPoller on Linux, PollPoller elsewhere.
using Poller = EpollPoller;
#else
using Poller = PollPoller;
#endif

SOCKETS_MODE_NAMESPACE_END
}  // namespace sockets

#if !defined(SOCKETS_SEPARATE_COMPILATION)
#include "impl/poller.ipp"
#endif
