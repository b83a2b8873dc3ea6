// Poller: which of many sockets are ready, from one thread.
//
//   Poller poller;                                  // the best backend the platform has
//   poller.add(listener, Events::readable, 0);      // token 0: yours to choose
//   for (const Ready& r : poller.wait(std::chrono::seconds(1)))
//       if (r.token == 0) ...                       // only ready entries come back
//
// Readiness is not completion: readable means one recv will not block, not that a whole
// message is there. Backends, all with the same interface:
//   SelectPoller  select(): everywhere; limited to FD_SETSIZE (refused beyond it, never overrun)
//   PollPoller    poll() / WSAPoll(): no descriptor limit, O(n) per wait
//   EpollPoller   epoll (Linux): wait cost independent of how many sockets are registered
// All are level-triggered: a socket stays ready until you drain it.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <system_error>
#include <unordered_map>
#include <vector>

#include "detail/io.hpp"
#include "detail/platform.hpp"
#include "error.hpp"
#include "socket.hpp"

namespace sockets {

enum class Events : unsigned {
    none = 0,
    readable = 1,   // recv/accept will not block (includes end-of-stream)
    writable = 2,   // send will not block; a connecting socket finished (check finish_connect)
    error = 4,      // the socket has a pending error (only reported, never requested)
    hang_up = 8,    // the peer closed (poll/epoll; select cannot tell)
};
constexpr Events operator|(Events a, Events b) noexcept {
    return static_cast<Events>(static_cast<unsigned>(a) | static_cast<unsigned>(b));
}
constexpr Events operator&(Events a, Events b) noexcept {
    return static_cast<Events>(static_cast<unsigned>(a) & static_cast<unsigned>(b));
}
constexpr Events& operator|=(Events& a, Events b) noexcept { return a = a | b; }
constexpr bool any(Events e) noexcept { return e != Events::none; }

// One ready socket: its token, its handle and what happened.
struct Ready {
    std::uint64_t token;
    native_handle_type handle;
    Events events;
    bool has(Events e) const noexcept { return any(events & e); }
};

namespace detail {

// The shared wait loop: retries EINTR with the time left and never returns empty-handed
// before the deadline (poll may wake a little early; a signal may interrupt it).
template <class WaitOnce>
const std::vector<Ready>& wait_until(std::vector<Ready>& ready, const Deadline& deadline,
                                     std::error_code& ec, WaitOnce wait_once) noexcept {
    ec.clear();
    for (;;) {
        ready.clear();
        int rc = wait_once(deadline.remaining_ms());
        if (rc < 0) {
            int code = last_error_code();
            if (is_interrupted(code)) continue;
            ec = os_error(code);
            return ready;
        }
        if (!ready.empty() || deadline.expired() || deadline.remaining_ms() == 0) return ready;
    }
}

// Handle -> position in a dense vector, so add/modify/remove are O(1) and waits walk only
// the registered entries.
template <class Entry>
class Registry {
public:
    Entry* find(native_handle_type h) noexcept {
        auto it = index_.find(h);
        return it == index_.end() ? nullptr : &entries_[it->second];
    }
    bool insert(native_handle_type h, const Entry& entry) {
        if (!index_.emplace(h, entries_.size()).second) return false;
        entries_.push_back(entry);
        return true;
    }
    // Returns the position the removed entry had, for parallel arrays to mirror the swap.
    bool erase(native_handle_type h, std::size_t& position) {
        auto it = index_.find(h);
        if (it == index_.end()) return false;
        position = it->second;
        index_.erase(it);
        if (position + 1 != entries_.size()) {
            entries_[position] = entries_.back();
            index_[handle_of(entries_[position])] = position;
        }
        entries_.pop_back();
        return true;
    }
    std::vector<Entry>& entries() noexcept { return entries_; }
    std::size_t size() const noexcept { return entries_.size(); }

private:
    static native_handle_type handle_of(const Entry& e) noexcept { return e.handle; }
    std::vector<Entry> entries_;
    std::unordered_map<native_handle_type, std::size_t> index_;
};

inline void throw_poller(std::error_code ec, const char* operation) { throw_if(ec, operation); }

}  // namespace detail

// The interface every backend shares, written once: the throwing forms and Socket overloads
// call the backend's error_code forms (add/modify/remove/wait_for).
template <class Backend>
class PollerInterface {
public:
    void add(native_handle_type h, Events events, std::uint64_t token) {
        std::error_code ec;
        self().add(h, events, token, ec);
        detail::throw_poller(ec, "poller add");
    }
    void add(const Socket& s, Events events, std::uint64_t token, std::error_code& ec) {
        self().add(s.native_handle(), events, token, ec);
    }
    void add(const Socket& s, Events events, std::uint64_t token) { add(s.native_handle(), events, token); }

    void modify(native_handle_type h, Events events, std::uint64_t token) {
        std::error_code ec;
        self().modify(h, events, token, ec);
        detail::throw_poller(ec, "poller modify");
    }
    void modify(const Socket& s, Events events, std::uint64_t token, std::error_code& ec) {
        self().modify(s.native_handle(), events, token, ec);
    }
    void modify(const Socket& s, Events events, std::uint64_t token) { modify(s.native_handle(), events, token); }

    void remove(native_handle_type h) {
        std::error_code ec;
        self().remove(h, ec);
        detail::throw_poller(ec, "poller remove");
    }
    void remove(const Socket& s, std::error_code& ec) { self().remove(s.native_handle(), ec); }
    void remove(const Socket& s) { remove(s.native_handle()); }

    // The ready entries (valid until the next wait). Empty only when the timeout expired.
    // Timeout::zero() polls without waiting.
    const std::vector<Ready>& wait(Timeout timeout, std::error_code& ec) {
        return self().wait_until(detail::Deadline(timeout), ec);
    }
    const std::vector<Ready>& wait(Timeout timeout) {
        std::error_code ec;
        const auto& ready = wait(timeout, ec);
        detail::throw_poller(ec, "poller wait");
        return ready;
    }
    // Waits until something is ready, however long that takes.
    const std::vector<Ready>& wait(std::error_code& ec) { return self().wait_until(detail::Deadline(), ec); }
    const std::vector<Ready>& wait() {
        std::error_code ec;
        const auto& ready = wait(ec);
        detail::throw_poller(ec, "poller wait");
        return ready;
    }

private:
    Backend& self() noexcept { return static_cast<Backend&>(*this); }
};

// ---- select ----------------------------------------------------------------------------------

class SelectPoller : public PollerInterface<SelectPoller> {
public:
    using PollerInterface::add;
    using PollerInterface::modify;
    using PollerInterface::remove;
    static constexpr bool reports_hang_up = false;
    static constexpr const char* name = "select";

    void add(native_handle_type h, Events events, std::uint64_t token, std::error_code& ec) {
        ec.clear();
        if (!detail::select_accepts(h, registry_.size()))
            ec = errc::handle_out_of_range;
        else if (!registry_.insert(h, Entry{h, events, token}))
            ec = errc::already_registered;
    }
    void modify(native_handle_type h, Events events, std::uint64_t token, std::error_code& ec) {
        ec.clear();
        if (Entry* e = registry_.find(h))
            *e = Entry{h, events, token};
        else
            ec = errc::not_registered;
    }
    void remove(native_handle_type h, std::error_code& ec) {
        ec.clear();
        std::size_t position;
        if (!registry_.erase(h, position)) ec = errc::not_registered;
    }
    std::size_t size() const noexcept { return registry_.size(); }

    const std::vector<Ready>& wait_until(const detail::Deadline& deadline, std::error_code& ec) {
        return detail::wait_until(ready_, deadline, ec, [this](int timeout_ms) {
            fd_set read, write, except;
            FD_ZERO(&read);
            FD_ZERO(&write);
            FD_ZERO(&except);
            native_handle_type max_handle = 0;
            for (const Entry& e : registry_.entries()) {
                if (any(e.events & Events::readable)) FD_SET(e.handle, &read);
                if (any(e.events & Events::writable)) FD_SET(e.handle, &write);
                if (detail::select_except_means_error) FD_SET(e.handle, &except);
                if (e.handle > max_handle) max_handle = e.handle;
            }
            int rc = detail::select_handles(static_cast<int>(max_handle), &read, &write, &except, timeout_ms);
            if (rc <= 0) return rc;
            for (const Entry& e : registry_.entries()) {
                Events got = Events::none;
                if (FD_ISSET(e.handle, &read)) got |= Events::readable;
                if (FD_ISSET(e.handle, &write)) got |= Events::writable;
                if (detail::select_except_means_error && FD_ISSET(e.handle, &except)) got |= Events::error;
                if (any(got)) ready_.push_back(Ready{e.token, e.handle, got});
            }
            return rc;
        });
    }

private:
    struct Entry {
        native_handle_type handle;
        Events events;
        std::uint64_t token;
    };
    detail::Registry<Entry> registry_;
    std::vector<Ready> ready_;
};

// ---- poll / WSAPoll --------------------------------------------------------------------------

class PollPoller : public PollerInterface<PollPoller> {
public:
    using PollerInterface::add;
    using PollerInterface::modify;
    using PollerInterface::remove;
    static constexpr bool reports_hang_up = true;
    static constexpr const char* name = "poll";

    void add(native_handle_type h, Events events, std::uint64_t token, std::error_code& ec) {
        ec.clear();
        if (!registry_.insert(h, Entry{h, token})) {
            ec = errc::already_registered;
            return;
        }
        detail::pollfd_type p{};
        p.fd = h;
        p.events = native_events(events);
        fds_.push_back(p);
    }
    void modify(native_handle_type h, Events events, std::uint64_t token, std::error_code& ec) {
        ec.clear();
        Entry* e = registry_.find(h);
        if (!e) {
            ec = errc::not_registered;
            return;
        }
        e->token = token;
        fds_[static_cast<std::size_t>(e - registry_.entries().data())].events = native_events(events);
    }
    void remove(native_handle_type h, std::error_code& ec) {
        ec.clear();
        std::size_t position;
        if (!registry_.erase(h, position)) {
            ec = errc::not_registered;
            return;
        }
        fds_[position] = fds_.back();  // mirror the registry's swap-with-last
        fds_.pop_back();
    }
    std::size_t size() const noexcept { return registry_.size(); }

    const std::vector<Ready>& wait_until(const detail::Deadline& deadline, std::error_code& ec) {
        return detail::wait_until(ready_, deadline, ec, [this](int timeout_ms) {
            int rc = fds_.empty() ? detail::sleep_ms(timeout_ms)
                                  : detail::poll_handles(fds_.data(), fds_.size(), timeout_ms);
            if (rc <= 0) return rc;
            int left = rc;
            for (std::size_t i = 0; i < fds_.size() && left > 0; ++i) {
                short got = fds_[i].revents;
                if (!got) continue;
                --left;
                Events events = Events::none;
                if (got & (POLLIN | POLLRDNORM)) events |= Events::readable;
                if (got & (POLLOUT | POLLWRNORM)) events |= Events::writable;
                if (got & (POLLERR | POLLNVAL)) events |= Events::error;
                // WSAPoll reports a peer's close as POLLHUP alone; recv would return 0 at once,
                // which is what readable promises.
                if (got & detail::poll_hang_up) events |= Events::hang_up | Events::readable;
                ready_.push_back(Ready{registry_.entries()[i].token, fds_[i].fd, events});
            }
            return rc;
        });
    }

private:
    static short native_events(Events e) noexcept {
        short n = 0;
        if (any(e & Events::readable)) n = static_cast<short>(n | detail::poll_read | (detail::poll_hang_up & ~POLLHUP));
        if (any(e & Events::writable)) n = static_cast<short>(n | detail::poll_write);
        return n;
    }
    struct Entry {
        native_handle_type handle;
        std::uint64_t token;
    };
    detail::Registry<Entry> registry_;
    std::vector<detail::pollfd_type> fds_;  // parallel to registry_.entries()
    std::vector<Ready> ready_;
};

// ---- epoll (Linux) ---------------------------------------------------------------------------

#if defined(SOCKETS_HAS_EPOLL)
class EpollPoller : public PollerInterface<EpollPoller> {
public:
    using PollerInterface::add;
    using PollerInterface::modify;
    using PollerInterface::remove;
    static constexpr bool reports_hang_up = true;
    static constexpr const char* name = "epoll";

    EpollPoller() : epoll_(::epoll_create1(EPOLL_CLOEXEC)) {
        if (!epoll_.is_open()) detail::throw_error(detail::last_error(), "epoll_create1");
    }

    void add(native_handle_type h, Events events, std::uint64_t token, std::error_code& ec) {
        ec.clear();
        if (h < 0) {
            ec = errc::not_open;
            return;
        }
        if (static_cast<std::size_t>(h) >= slots_.size()) slots_.resize(static_cast<std::size_t>(h) + 1);
        if (slots_[static_cast<std::size_t>(h)].used) {
            ec = errc::already_registered;
            return;
        }
        if (!control(EPOLL_CTL_ADD, h, events, ec)) return;
        slots_[static_cast<std::size_t>(h)] = Slot{token, true};
        ++size_;
    }
    void modify(native_handle_type h, Events events, std::uint64_t token, std::error_code& ec) {
        ec.clear();
        if (!registered(h)) {
            ec = errc::not_registered;
            return;
        }
        if (control(EPOLL_CTL_MOD, h, events, ec)) slots_[static_cast<std::size_t>(h)].token = token;
    }
    void remove(native_handle_type h, std::error_code& ec) {
        ec.clear();
        if (!registered(h)) {
            ec = errc::not_registered;
            return;
        }
        slots_[static_cast<std::size_t>(h)].used = false;
        --size_;
        // A descriptor closed before removal has already left the epoll set: not an error.
        if (::epoll_ctl(epoll_.native_handle(), EPOLL_CTL_DEL, h, nullptr) != 0 && errno != EBADF && errno != ENOENT)
            ec = detail::last_error();
    }
    std::size_t size() const noexcept { return size_; }

    const std::vector<Ready>& wait_until(const detail::Deadline& deadline, std::error_code& ec) {
        // Level-triggered: events beyond this batch are reported by the next wait.
        std::size_t batch = size_ < 16 ? 16 : (size_ > 1024 ? 1024 : size_);
        if (events_.size() < batch) events_.resize(batch);
        return detail::wait_until(ready_, deadline, ec, [this, batch](int timeout_ms) {
            int rc = ::epoll_wait(epoll_.native_handle(), events_.data(), static_cast<int>(batch), timeout_ms);
            for (int i = 0; i < rc; ++i) {
                const ::epoll_event& e = events_[static_cast<std::size_t>(i)];
                Events got = Events::none;
                if (e.events & EPOLLIN) got |= Events::readable;
                if (e.events & EPOLLOUT) got |= Events::writable;
                if (e.events & EPOLLERR) got |= Events::error;
                if (e.events & (EPOLLHUP | EPOLLRDHUP)) got |= Events::hang_up;
                ready_.push_back(Ready{slots_[static_cast<std::size_t>(e.data.fd)].token, e.data.fd, got});
            }
            return rc;
        });
    }

private:
    bool registered(native_handle_type h) const noexcept {
        return h >= 0 && static_cast<std::size_t>(h) < slots_.size() && slots_[static_cast<std::size_t>(h)].used;
    }
    bool control(int op, native_handle_type h, Events events, std::error_code& ec) {
        ::epoll_event e{};
        if (any(events & Events::readable)) e.events |= EPOLLIN | EPOLLRDHUP;
        if (any(events & Events::writable)) e.events |= EPOLLOUT;
        e.data.fd = h;
        if (::epoll_ctl(epoll_.native_handle(), op, h, &e) == 0) return true;
        ec = detail::last_error();
        return false;
    }
    struct Slot {
        std::uint64_t token = 0;
        bool used = false;
    };
    Socket epoll_;                // not a socket, but a descriptor Socket closes correctly
    std::vector<Slot> slots_;     // indexed by descriptor: O(1) token lookup per event
    std::size_t size_ = 0;
    std::vector<::epoll_event> events_;
    std::vector<Ready> ready_;
};

using Poller = EpollPoller;
#else
using Poller = PollPoller;
#endif

}  // namespace sockets
