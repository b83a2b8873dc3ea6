// Definitions for poller.hpp: inline in header-only mode, compiled once by src/sockets.cpp.
// The wait loops (wait_until) live here too: each is one call per wait, whose cost is the
// system call's (docs/performance.md, "poller wait").
#pragma once

#include "../poller.hpp"

namespace sockets {
SOCKETS_MODE_NAMESPACE_BEGIN

namespace detail {

SOCKETS_DECL bool identify(native_handle_type h, HandleIdentity& id) noexcept {
#if defined(_WIN32)
    // Winsock has no identity to compare; a handle that is a socket counts as the same one.
    int type = 0;
    int length = sizeof type;
    id = HandleIdentity{};
    return ::getsockopt(h, SOL_SOCKET, SO_TYPE, reinterpret_cast<char*>(&type), &length) == 0;
#else
    struct ::stat st{};
    if (::fstat(h, &st) != 0) return false;
    id = HandleIdentity{static_cast<std::uint64_t>(st.st_dev), static_cast<std::uint64_t>(st.st_ino)};
    return true;
#endif
}

SOCKETS_DECL bool validate(native_handle_type h, HandleIdentity& id, std::error_code& ec) noexcept {
    if (h == invalid_handle)
        ec = errc::not_open;
    else if (!identify(h, id))
        ec = closed_handle();
    return !ec;
}

SOCKETS_DECL void Registry::set(native_handle_type h, std::size_t position, bool present) noexcept {
    if (direct(h))
        table_[static_cast<std::size_t>(h)] = present ? static_cast<std::uint32_t>(position + 1) : 0;
    else if (present)
        spill_[spill_lower_bound(h)].position = position;
    else
        spill_.erase(spill_.begin() + static_cast<std::ptrdiff_t>(spill_lower_bound(h)));
}

SOCKETS_DECL bool Registry::insert(const Registration& entry) {
    reserve_for(entries_, entries_.size() + 1);
    native_handle_type h = entry.handle;
    if (direct(h)) {
        std::size_t at = static_cast<std::size_t>(h);
        if (table_.size() <= at) table_.resize(at < 2 * table_.size() ? 2 * table_.size() : at + 1);
        if (table_[at] != 0) return false;
        table_[at] = static_cast<std::uint32_t>(entries_.size() + 1);
    } else {
        std::size_t at = spill_lower_bound(h);
        if (at < spill_.size() && spill_[at].handle == h) return false;
        spill_.insert(spill_.begin() + static_cast<std::ptrdiff_t>(at), Spilled{h, entries_.size()});
    }
    entries_.push_back(entry);  // cannot throw: capacity reserved
    return true;
}

SOCKETS_DECL std::size_t Registry::erase(Registration* e) noexcept {
    std::size_t position = static_cast<std::size_t>(e - entries_.data());
    set(e->handle, 0, false);
    if (position + 1 != entries_.size()) {
        entries_[position] = entries_.back();
        set(entries_[position].handle, position, true);
    }
    entries_.pop_back();
    return position;
}

SOCKETS_DECL void PollerCore::report(Registration& e, Events events) noexcept {
    if (e.batch == batch_) {
        ready_[e.ready_index].events |= events;
        return;
    }
    e.batch = batch_;
    e.ready_index = ready_.size();
    ready_.push_back(Ready{e.token, e.handle, events});
    dead_.push_back(0);
    if (any(events & (Events::writable | Events::error))) e.awaiting_write = false;
}

SOCKETS_DECL void PollerCore::report_stale(Registration& e) noexcept {
    if (e.batch == batch_) ready_[e.ready_index].events = Events::error;
    else report(e, Events::error);
    e.stale = true;
    any_stale_ = true;
}

SOCKETS_DECL bool PollerCore::same_file(const Registration& e) noexcept {
    HandleIdentity id;
    return identify(e.handle, id) && id == e.identity;
}

SOCKETS_DECL bool PollerCore::still_same(Registration& e) noexcept {
    ++e.reports;
    if ((e.reports & (e.reports - 1)) != 0) return true;
    return same_file(e);
}

}  // namespace detail

// ---- select ----------------------------------------------------------------------------------

SOCKETS_DECL SelectPoller& SelectPoller::operator=(SelectPoller&& other) noexcept { return detail::move_assign(*this, other); }

SOCKETS_DECL SelectPoller::SelectPoller() {
    if (!detail::select_accepts(waker_.handle(), 0))
        detail::throw_error(errc::handle_out_of_range, "select poller wake-up handle");
}

SOCKETS_DECL void SelectPoller::add(native_handle_type h, Events events, std::uint64_t token, std::error_code& ec) {
    if (!usable(ec)) return;
    detail::HandleIdentity id;
    if (!admit(h, id, ec, [this](detail::Registration* e) { drop(e); })) return;
    // One slot of each fd_set holds the wake-up handle.
    if (!detail::select_accepts(h, registry_.size() + 1)) {
        ec = errc::handle_out_of_range;
        return;
    }
    detail::Registration entry{h, events, token, id};
    entry.awaiting_write = any(events & Events::writable);
    registry_.insert(entry);
}

SOCKETS_DECL void SelectPoller::modify(native_handle_type h, Events events, std::uint64_t token, std::error_code& ec) {
    if (!usable(ec)) return;
    if (detail::Registration* e = find_live(h, ec, [this](detail::Registration* x) { drop(x); })) {
        e->events = events;
        e->awaiting_write = any(events & Events::writable);
        retoken(*e, token);
    }
}

SOCKETS_DECL void SelectPoller::remove(native_handle_type h, std::error_code& ec) {
    if (!usable(ec)) return;
    if (detail::Registration* e = find_live(h, ec, [this](detail::Registration* x) { drop(x); })) drop(e);
}

SOCKETS_DECL ReadyList SelectPoller::wait_until(const detail::Deadline& deadline, std::error_code& ec) {
    if (!usable(ec)) return ReadyList();
    return run(deadline, ec, [this](int timeout_ms, bool& woken) {
        detail::HandleSet read, write, except;
        int rc = select_once(read, write, except, timeout_ms);
        if (rc < 0) return find_closed() ? 1 : rc;  // EBADF/WSAENOTSOCK: which one?
        if (rc == 0) return rc;
        if (detail::set_has(read, waker_.handle())) {
            woken = true;
            waker_.drain();
        }
        for (detail::Registration& e : registry_.entries()) {
            Events got = Events::none;
            if (detail::set_has(read, e.handle)) got |= Events::readable;
            if (detail::set_has(write, e.handle)) got |= Events::writable;
            if (detail::select_except_means_error && detail::set_has(except, e.handle)) got |= Events::error;
            if (!any(got)) continue;
            if (e.awaiting_write && any(got & Events::writable) && pending_error(e.handle)) got |= Events::error;
            got |= writable_with_error(e, got);
            if (still_same_periodic(e)) report(e, got);
            else report_stale(e);
        }
        sweep();
        return rc;
    });
}

SOCKETS_DECL bool SelectPoller::pending_error(native_handle_type h) noexcept {
#if defined(_WIN32)
    (void)h;
    return false;  // the except set already said so
#else
    detail::pollfd_type p{};
    p.fd = h;
    int rc;
    do rc = detail::poll_handles(&p, 1, 0);  // a signal here must not hide the error
    while (rc < 0 && detail::is_interrupted(detail::last_error_code()));
    return rc > 0 && (p.revents & POLLERR) != 0;
#endif
}

SOCKETS_DECL int SelectPoller::select_once(detail::HandleSet& read, detail::HandleSet& write, detail::HandleSet& except, int timeout_ms) noexcept {
    detail::set_clear(read);
    detail::set_clear(write);
    detail::set_clear(except);
    detail::set_add(read, waker_.handle());
    native_handle_type max_handle = waker_.handle();
    for (const detail::Registration& e : registry_.entries()) {
        if (any(e.events & Events::readable)) detail::set_add(read, e.handle);
        if (any(e.events & Events::writable)) detail::set_add(write, e.handle);
        if (detail::select_except_means_error) detail::set_add(except, e.handle);
        if (e.handle > max_handle) max_handle = e.handle;
    }
    return detail::select_handles(static_cast<int>(max_handle), &read, &write, &except, timeout_ms);
}

SOCKETS_DECL bool SelectPoller::find_closed() noexcept {
    for (detail::Registration& e : registry_.entries()) {
        detail::HandleIdentity id;
        if (!detail::identify(e.handle, id) || id != e.identity) report_stale(e);
    }
    bool found = any_stale_;
    sweep();
    return found;
}

SOCKETS_DECL void SelectPoller::sweep() noexcept {
    if (!any_stale_) return;
    any_stale_ = false;
    auto& entries = registry_.entries();
    for (std::size_t i = entries.size(); i-- > 0;)
        if (entries[i].stale) registry_.erase(&entries[i]);
}

SOCKETS_DECL void SelectPoller::drop(detail::Registration* e) noexcept {
    forget(*e);
    registry_.erase(e);
}

// ---- poll / WSAPoll --------------------------------------------------------------------------

SOCKETS_DECL PollPoller& PollPoller::operator=(PollPoller&& other) noexcept { return detail::move_assign(*this, other); }

SOCKETS_DECL PollPoller::PollPoller() {
    detail::pollfd_type p{};
    p.fd = waker_.handle();
    p.events = detail::poll_read;
    fds_.push_back(p);
}

SOCKETS_DECL void PollPoller::add(native_handle_type h, Events events, std::uint64_t token, std::error_code& ec) {
    if (!usable(ec)) return;
    detail::HandleIdentity id;
    if (!admit(h, id, ec, [this](detail::Registration* e) { drop(e); })) return;
    detail::reserve_for(fds_, fds_.size() + 1);  // before the registry changes: strong
    detail::Registration entry{h, events, token, id};
    entry.awaiting_write = any(events & Events::writable);
    registry_.insert(entry);
    detail::pollfd_type p{};
    p.fd = h;
    p.events = native_events(events);
    fds_.push_back(p);  // cannot throw: capacity reserved
}

SOCKETS_DECL void PollPoller::modify(native_handle_type h, Events events, std::uint64_t token, std::error_code& ec) {
    if (!usable(ec)) return;
    detail::Registration* e = find_live(h, ec, [this](detail::Registration* x) { drop(x); });
    if (!e) return;
    e->events = events;
    e->awaiting_write = any(events & Events::writable);
    retoken(*e, token);
    fds_[position(e)].events = native_events(events);
}

SOCKETS_DECL void PollPoller::remove(native_handle_type h, std::error_code& ec) {
    if (!usable(ec)) return;
    if (detail::Registration* e = find_live(h, ec, [this](detail::Registration* x) { drop(x); })) drop(e);
}

SOCKETS_DECL ReadyList PollPoller::wait_until(const detail::Deadline& deadline, std::error_code& ec) {
    if (!usable(ec)) return ReadyList();
    return run(deadline, ec, [this](int timeout_ms, bool& woken) {
        int rc = detail::poll_handles(fds_.data(), fds_.size(), connect_slice(timeout_ms));
        if (rc < 0) return rc;
        int left = rc;
        if (fds_[0].revents) {
            woken = true;
            waker_.drain();
            --left;
        }
        auto& entries = registry_.entries();
        for (std::size_t i = 0; i < entries.size() && left > 0; ++i) {
            short got = fds_[i + 1].revents;
            if (!got) continue;
            --left;
            if ((got & POLLNVAL) || !still_same_periodic(entries[i])) {
                report_stale(entries[i]);  // closed while registered: once, then gone
                continue;
            }
            Events events = translate(entries[i].handle, got);
            report(entries[i], events | writable_with_error(entries[i], events));
        }
        report_failed_connects();
        sweep();
        return rc;
    });
}

SOCKETS_DECL Events PollPoller::translate(native_handle_type h, short got) noexcept {
    Events events = Events::none;
    if (got & (POLLIN | POLLRDNORM)) events |= Events::readable;
    if (got & (POLLOUT | POLLWRNORM)) events |= Events::writable;
    if (got & POLLERR) events |= Events::error;
#if defined(_WIN32)
    // WSAPoll says POLLHUP on the peer's FIN alone (a half-close too): that is the end of
    // the stream, readable. Over in both directions means a reset (POLLERR) or our own
    // sending side shut as well, which an empty send tells (once per connection's end).
    if (got & POLLHUP) {
        events |= Events::readable;
        if ((got & POLLERR) || ::send(h, nullptr, 0, 0) != 0) events |= Events::hang_up;
    }
#else
    (void)h;
    if (got & POLLHUP) events |= Events::hang_up | Events::readable;
#endif
    return events;
}

SOCKETS_DECL short PollPoller::native_events(Events e) noexcept {
    short n = 0;
    if (any(e & Events::readable)) n = static_cast<short>(n | detail::poll_read);
    if (any(e & Events::writable)) n = static_cast<short>(n | detail::poll_write);
    return n;
}

SOCKETS_DECL std::size_t PollPoller::position(const detail::Registration* e) noexcept {
    return static_cast<std::size_t>(e - registry_.entries().data()) + 1;
}

SOCKETS_DECL void PollPoller::drop(detail::Registration* e) noexcept {
    forget(*e);
    erase(e);
}

SOCKETS_DECL void PollPoller::erase(detail::Registration* e) noexcept {
    std::size_t at = registry_.erase(e) + 1;
    fds_[at] = fds_.back();  // mirror the registry's swap-with-last
    fds_.pop_back();
}

SOCKETS_DECL void PollPoller::sweep() noexcept {
    if (!any_stale_) return;
    any_stale_ = false;
    auto& entries = registry_.entries();
    for (std::size_t i = entries.size(); i-- > 0;)
        if (entries[i].stale) erase(&entries[i]);
}

#if defined(_WIN32)
SOCKETS_DECL int PollPoller::connect_slice(int timeout_ms) noexcept {
    for (const detail::Registration& e : registry_.entries())
        if (e.awaiting_write) return (timeout_ms < 0 || timeout_ms > connect_check_ms) ? connect_check_ms : timeout_ms;
    return timeout_ms;
}

SOCKETS_DECL void PollPoller::report_failed_connects() noexcept {
    auto& entries = registry_.entries();
    for (std::size_t first = 0; first < entries.size();) {
        detail::HandleSet failed;
        detail::set_clear(failed);
        std::size_t i = first;
        for (; i < entries.size() && detail::set_size(failed) < detail::select_capacity; ++i)
            if (entries[i].awaiting_write && !entries[i].stale) detail::set_add(failed, entries[i].handle);
        timeval zero{0, 0};
        if (detail::set_size(failed) > 0 && ::select(0, nullptr, nullptr, detail::as_fd_set(&failed), &zero) > 0)
            for (std::size_t j = first; j < i; ++j)
                if (entries[j].awaiting_write && detail::set_has(failed, entries[j].handle))
                    report(entries[j], Events::error | Events::writable);
        first = i;
    }
}
#endif

// ---- epoll (Linux) ---------------------------------------------------------------------------

#if defined(SOCKETS_HAS_EPOLL)
SOCKETS_DECL EpollPoller& EpollPoller::operator=(EpollPoller&& other) noexcept { return detail::move_assign(*this, other); }

SOCKETS_DECL EpollPoller::EpollPoller() {
    std::error_code ec;
    if (const char* failed = open_set(ec)) detail::throw_error(ec, failed);
    reserve_spare();
}

SOCKETS_DECL void EpollPoller::add(native_handle_type h, Events events, std::uint64_t token, std::error_code& ec) {
    if (!usable(ec)) return;
    detail::HandleIdentity id;
    if (!admit(h, id, ec, [this](detail::Registration* e) { drop_stale(e); })) return;
    std::uint32_t generation = ++generation_;
    if (!control(EPOLL_CTL_ADD, h, events, generation, ec)) return;
    detail::Registration entry{h, events, token, id};
    entry.generation = generation;
#if defined(SOCKETS_NO_EXCEPTIONS)
    registry_.insert(entry);  // an allocation failure ends the program: nothing to undo
#else
    try {
        registry_.insert(entry);
    } catch (...) {
        ::epoll_ctl(epoll_.native_handle(), EPOLL_CTL_DEL, h, nullptr);
        throw;
    }
#endif
}

SOCKETS_DECL void EpollPoller::modify(native_handle_type h, Events events, std::uint64_t token, std::error_code& ec) {
    if (!usable(ec)) return;
    detail::Registration* e = registry_.find(h);
    if (!e) {
        ec = errc::not_registered;
        return;
    }
    if (!control(EPOLL_CTL_MOD, h, events, e->generation, ec)) {
        if (ec == std::errc::bad_file_descriptor || ec == std::errc::no_such_file_or_directory) {
            ec = detail::closed_handle();  // closed, or the number now names another file
            drop_stale(e);
        }
        return;
    }
    e->events = events;
    retoken(*e, token);
}

SOCKETS_DECL void EpollPoller::remove(native_handle_type h, std::error_code& ec) {
    if (!usable(ec)) return;
    detail::Registration* e = registry_.find(h);
    if (!e) {
        ec = errc::not_registered;
        return;
    }
    if (::epoll_ctl(epoll_.native_handle(), EPOLL_CTL_DEL, h, nullptr) == 0) {
        forget(*e);
        registry_.erase(e);
        return;
    }
    ec = detail::last_error();
    if (ec == std::errc::bad_file_descriptor || ec == std::errc::no_such_file_or_directory) {
        ec = detail::closed_handle();
        drop_stale(e);
    }
}

SOCKETS_DECL ReadyList EpollPoller::wait_until(const detail::Deadline& deadline, std::error_code& ec) {
    if (!usable(ec)) return ReadyList();
    // Level-triggered: events beyond this batch are reported by the next wait.
    std::size_t batch = size() < 16 ? 16 : (size() > 1024 ? 1024 : size() + 1);
    if (events_.size() < batch) events_.resize(batch);
    return run(deadline, ec, [this, batch](int timeout_ms, bool& woken) {
        int rc = ::epoll_wait(epoll_.native_handle(), events_.data(), static_cast<int>(batch), timeout_ms);
        bool reported = false;
        for (int i = 0; i < rc; ++i) {
            const ::epoll_event& event = events_[static_cast<std::size_t>(i)];
            if (event.data.u64 == waker_id) {
                woken = true;
                waker_.drain();
                continue;
            }
            auto h = static_cast<native_handle_type>(event.data.u64 & 0xffffffffu);
            detail::Registration* e = registry_.find(h);
            if (!e || e->generation != static_cast<std::uint32_t>(event.data.u64 >> 32)) {
                rebuild_ = true;  // a ghost of a registration closed while a duplicate lives
                continue;
            }
            reported = true;
            if (!still_same(*e)) {
                report_stale(*e);
                rebuild_ = true;
                continue;
            }
            report(*e, translate(event.events));
        }
        if (rc >= 0 && rebuild_ && !rebuild(true) && !reported && !woken) {
            // Only ghosts, and no new set to shed them: waiting again would return at once
            // forever. Fail this wait instead of spinning.
            errno = rebuild_error_;
            return -1;
        }
        return rc;
    });
}

SOCKETS_DECL Events EpollPoller::translate(std::uint32_t got) noexcept {
    Events events = Events::none;
    if (got & EPOLLIN) events |= Events::readable;
    if (got & EPOLLOUT) events |= Events::writable;
    if (got & EPOLLERR) events |= Events::error;
    if (got & EPOLLHUP) events |= Events::hang_up | Events::readable;
    return events;
}

SOCKETS_DECL bool EpollPoller::control(int op, native_handle_type h, Events events, std::uint32_t generation, std::error_code& ec) {
    ::epoll_event e{};
    if (any(events & Events::readable)) e.events |= EPOLLIN;
    if (any(events & Events::writable)) e.events |= EPOLLOUT;
    e.data.u64 = (std::uint64_t{generation} << 32) | static_cast<std::uint32_t>(h);
    if (::epoll_ctl(epoll_.native_handle(), op, h, &e) == 0) return true;
    ec = detail::last_error();
    return false;
}

SOCKETS_DECL const char* EpollPoller::open_set(std::error_code& ec) noexcept {
    Socket set(::epoll_create1(EPOLL_CLOEXEC));
    if (!set.is_open()) {
        ec = detail::last_error();
        return "epoll_create1";
    }
    ::epoll_event e{};
    e.events = EPOLLIN;
    e.data.u64 = waker_id;
    if (::epoll_ctl(set.native_handle(), EPOLL_CTL_ADD, waker_.handle(), &e) != 0) {
        ec = detail::last_error();
        return "epoll_ctl wake-up";
    }
    epoll_ = std::move(set);
    return nullptr;
}

SOCKETS_DECL void EpollPoller::drop_stale(detail::Registration* e) noexcept {
    forget(*e);
    registry_.erase(e);
    rebuild_ = true;
    rebuild(false);
}

SOCKETS_DECL void EpollPoller::reserve_spare() noexcept {
    if (!spare_.is_open()) spare_ = Socket(::fcntl(epoll_.native_handle(), F_DUPFD_CLOEXEC, 0));
}

SOCKETS_DECL bool EpollPoller::rebuild(bool in_wait) noexcept {
    std::error_code ignored;  // a failing close of the spare descriptor changes nothing here
    spare_.close(ignored);
    std::error_code failure;
    if (open_set(failure)) {
        rebuild_error_ = failure.value();
        reserve_spare();
        erase_stale();
        return false;
    }
    reserve_spare();
    rebuild_ = false;
    auto& entries = registry_.entries();
    for (std::size_t i = entries.size(); i-- > 0;) {
        detail::Registration& e = entries[i];
        std::error_code ec;
        detail::HandleIdentity id;
        if (e.stale || !detail::identify(e.handle, id) || id != e.identity ||
            !control(EPOLL_CTL_ADD, e.handle, e.events, e.generation, ec)) {
            if (!e.stale && in_wait) report_stale(e);
            if (!in_wait) forget(e);
            registry_.erase(&e);
        }
    }
    any_stale_ = false;
    return true;
}

SOCKETS_DECL void EpollPoller::erase_stale() noexcept {
    auto& entries = registry_.entries();
    for (std::size_t i = entries.size(); i-- > 0;)
        if (entries[i].stale) registry_.erase(&entries[i]);
    any_stale_ = false;
}
#endif

SOCKETS_MODE_NAMESPACE_END
}  // namespace sockets
