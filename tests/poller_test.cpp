#include <sockets/poller.hpp>

#include <algorithm>
#include <chrono>
#include <future>
#include <map>
#include <thread>
#include <vector>

#if !defined(_WIN32)
#include <sys/resource.h>
#endif

#include "catch.hpp"
#include "support.hpp"

using namespace sockets;
using namespace std::chrono_literals;

#if defined(SOCKETS_HAS_EPOLL)
#define POLLER_BACKENDS SelectPoller, PollPoller, EpollPoller
#else
#define POLLER_BACKENDS SelectPoller, PollPoller
#endif

// Generous hang guard: only reached if a wait that should succeed does not.
constexpr auto guard = 10s;

template <class P>
static const Ready* find_token(const std::vector<Ready>& ready, std::uint64_t token) {
    auto it = std::find_if(ready.begin(), ready.end(), [&](const Ready& r) { return r.token == token; });
    return it == ready.end() ? nullptr : &*it;
}

TEMPLATE_TEST_CASE("a listener with a pending connection is readable; the token round-trips", "[poller]",
                   POLLER_BACKENDS) {
    TestType poller;
    Socket listener = listen_on(Address::loopback(Family::ipv4));
    const std::uint64_t token = 0xFEEDFACECAFEBEEFull;
    poller.add(listener, Events::readable, token);
    CHECK(poller.wait(0ms).empty());
    Socket client = connect_to(listener.local_address());
    const auto& ready = poller.wait(guard);
    REQUIRE(ready.size() == 1);
    CHECK(ready[0].token == token);
    CHECK(ready[0].handle == listener.native_handle());
    CHECK(ready[0].has(Events::readable));
    (void)listener.accept();
}

TEMPLATE_TEST_CASE("readable only after data arrives", "[poller]", POLLER_BACKENDS) {
    TestType poller;
    auto p = test::tcp_pair();
    poller.add(p.server, Events::readable, 7);
    CHECK(poller.wait(0ms).empty());
    p.client.send_all(std::string("ping"));
    const auto& ready = poller.wait(guard);
    REQUIRE(ready.size() == 1);
    CHECK(ready[0].token == 7);
    CHECK(ready[0].has(Events::readable));
    CHECK_FALSE(ready[0].has(Events::writable));
}

TEMPLATE_TEST_CASE("a poller assigned to itself keeps its registrations", "[poller][moved]", POLLER_BACKENDS) {
    TestType poller;
    auto p = test::tcp_pair();
    poller.add(p.server, Events::readable, 9);
    TestType& same = poller;
    poller = std::move(same);  // PollPoller crashed in the next wait; the others lost the socket
    CHECK(poller.size() == 1);
    p.client.send_all(std::string("x"));
    std::error_code ec;
    const auto& ready = poller.wait(guard, ec);
    REQUIRE_FALSE(ec);
    REQUIRE(ready.size() == 1);
    CHECK(ready[0].token == 9);
    // A real move still works, and the moved-from poller is not_open.
    TestType other = std::move(poller);
    CHECK(other.size() == 1);
    poller.wait(0ms, ec);
    CHECK(ec == errc::not_open);
}

TEMPLATE_TEST_CASE("a connected socket is writable", "[poller]", POLLER_BACKENDS) {
    TestType poller;
    auto p = test::tcp_pair();
    poller.add(p.client, Events::writable, 1);
    const auto& ready = poller.wait(guard);
    REQUIRE(ready.size() == 1);
    CHECK(ready[0].has(Events::writable));
}

// A FIN is all TCP says, whether the peer called close() or shutdown(write): readable, not hang_up.
TEMPLATE_TEST_CASE("the peer closing shows as readable and recv 0, not as hang-up", "[poller]", POLLER_BACKENDS) {
    TestType poller;
    auto p = test::tcp_pair();
    poller.add(p.server, Events::readable, 3);
    p.client.close();
    const auto& ready = poller.wait(guard);
    REQUIRE(ready.size() == 1);
    CHECK(ready[0].has(Events::readable));
    CHECK_FALSE(ready[0].has(Events::hang_up));
    char c;
    CHECK(p.server.recv(&c, 1) == 0);
}

TEMPLATE_TEST_CASE("a refused non-blocking connect is reported and finish_connect says why", "[poller]",
                   POLLER_BACKENDS) {
    Socket refusing = test::refusing_port();
    Address nobody = refusing.local_address();
    TestType poller;
    Socket s = Socket::tcp();
    s.set_nonblocking(true);
    bool connected = s.start_connect(nobody);
    REQUIRE_FALSE(connected);
    poller.add(s, Events::writable, 9);
    const auto& ready = poller.wait(guard);
    REQUIRE(ready.size() == 1);
    CHECK((ready[0].has(Events::writable) || ready[0].has(Events::error)));
    std::error_code ec;
    s.finish_connect(ec);
    CHECK(ec == std::errc::connection_refused);
}

TEMPLATE_TEST_CASE("a non-blocking connect completes when writable", "[poller]", POLLER_BACKENDS) {
    Socket listener = listen_on(Address::loopback(Family::ipv4));
    TestType poller;
    Socket s = Socket::tcp();
    s.set_nonblocking(true);
    if (!s.start_connect(listener.local_address())) {
        poller.add(s, Events::writable, 1);
        REQUIRE(poller.wait(guard).size() == 1);
    }
    s.finish_connect();
    CHECK(s.peer_address() == listener.local_address());
}

TEMPLATE_TEST_CASE("modify changes the events and token; remove stops reporting", "[poller]", POLLER_BACKENDS) {
    TestType poller;
    auto p = test::tcp_pair();
    poller.add(p.client, Events::readable, 1);
    CHECK(poller.size() == 1);
    CHECK(poller.wait(0ms).empty());  // nothing to read yet
    poller.modify(p.client, Events::readable | Events::writable, 2);
    const auto& ready = poller.wait(guard);
    REQUIRE(ready.size() == 1);
    CHECK(ready[0].token == 2);
    CHECK(ready[0].has(Events::writable));
    poller.remove(p.client);
    CHECK(poller.size() == 0);
    CHECK(poller.wait(0ms).empty());

    std::error_code ec;
    poller.remove(p.client, ec);
    CHECK(ec == errc::not_registered);
    poller.modify(p.client, Events::readable, 1, ec);
    CHECK(ec == errc::not_registered);
    poller.add(p.client, Events::readable, 1);
    poller.add(p.client, Events::readable, 1, ec);
    CHECK(ec == errc::already_registered);
    CHECK_THROWS_AS(poller.add(p.client, Events::readable, 1), std::system_error);
}

TEMPLATE_TEST_CASE("many registered sockets: only the ready ones come back", "[poller]", POLLER_BACKENDS) {
    TestType poller;
    std::vector<test::TcpPair> pairs;
    for (int i = 0; i < 20; ++i) {
        pairs.push_back(test::tcp_pair());
        poller.add(pairs.back().server, Events::readable, static_cast<std::uint64_t>(i));
    }
    pairs[4].client.send_all(std::string("a"));
    pairs[17].client.send_all(std::string("b"));
    std::vector<std::uint64_t> tokens;
    while (tokens.size() < 2) {  // the two may become ready in separate waits
        for (const Ready& r : poller.wait(guard)) {
            char c;
            (void)pairs[r.token].server.recv(&c, 1);
            tokens.push_back(r.token);
        }
    }
    std::sort(tokens.begin(), tokens.end());
    CHECK(tokens == std::vector<std::uint64_t>{4, 17});
}

TEMPLATE_TEST_CASE("a timeout is honoured: no early return with nothing ready", "[poller]", POLLER_BACKENDS) {
    TestType poller;
    auto p = test::tcp_pair();
    poller.add(p.server, Events::readable, 1);
    for (auto timeout : {1ms, 20ms, 120ms}) {
        auto start = std::chrono::steady_clock::now();
        CHECK(poller.wait(timeout).empty());
        CHECK(std::chrono::steady_clock::now() - start >= timeout);
    }
    TestType empty;  // nothing registered at all: still waits the full time
    auto start = std::chrono::steady_clock::now();
    CHECK(empty.wait(30ms).empty());
    CHECK(std::chrono::steady_clock::now() - start >= 30ms);
}

TEMPLATE_TEST_CASE("one thread, one poller, 200 concurrent clients, 64 KiB each echoed intact", "[poller][load]",
                   POLLER_BACKENDS) {
    constexpr int clients = 200;
    constexpr std::size_t size = 64 * 1024;
    Socket listener = listen_on(Address::loopback(Family::ipv4), 512);
    listener.set_nonblocking(true);
    const Address where = listener.local_address();

    auto server = std::async(std::launch::async, [&] {
        TestType poller;
        struct Client {
            Socket socket;
            std::vector<char> out;  // echo not yet written
            std::size_t echoed = 0;
        };
        std::map<std::uint64_t, Client> live;
        std::uint64_t next = 1;
        int finished = 0;
        poller.add(listener, Events::readable, 0);
        char buffer[16384];
        while (finished < clients) {
            for (const Ready& r : poller.wait(guard)) {
                if (r.token == 0) {
                    while (auto s = listener.try_accept()) {
                        s->set_nonblocking(true);
                        poller.add(*s, Events::readable, next);
                        live[next++].socket = std::move(*s);
                    }
                    continue;
                }
                Client& c = live.at(r.token);
                if (r.has(Events::readable | Events::hang_up | Events::error)) {
                    while (auto n = c.socket.try_recv(buffer, sizeof buffer)) {
                        if (*n == 0) break;
                        c.out.insert(c.out.end(), buffer, buffer + *n);
                    }
                }
                while (!c.out.empty()) {
                    auto n = c.socket.try_send(c.out.data(), c.out.size());
                    if (!n) break;
                    c.out.erase(c.out.begin(), c.out.begin() + static_cast<std::ptrdiff_t>(*n));
                    c.echoed += *n;
                }
                poller.modify(c.socket, c.out.empty() ? Events::readable : Events::readable | Events::writable, r.token);
                if (c.echoed == size) {
                    poller.remove(c.socket);
                    live.erase(r.token);
                    ++finished;
                }
            }
        }
        return finished;
    });

    std::vector<Socket> sockets_;
    for (int i = 0; i < clients; ++i) sockets_.push_back(connect_to(where));  // all connected at once
    std::vector<std::future<bool>> checks;
    for (int i = 0; i < clients; ++i) {
        checks.push_back(std::async(std::launch::async, [&, i] {
            auto data = test::pattern(size, static_cast<std::uint32_t>(i + 1));
            Socket& s = sockets_[static_cast<std::size_t>(i)];
            s.send_all(data.data(), data.size());
            std::vector<unsigned char> echo(size);
            s.recv_exact(echo.data(), echo.size(), guard * 3);
            return echo == data;
        }));
    }
    int intact = 0;
    for (auto& c : checks) intact += c.get() ? 1 : 0;
    CHECK(intact == clients);
    CHECK(server.get() == clients);
}

// Handles past the registry's direct table (65536) go to its sorted spill list. Real sockets
// rarely get such numbers (see the next test), so the list is also checked on its own here.
TEST_CASE("the registry keeps handles past its table: find, duplicates, erase", "[poller]") {
    detail::Registry registry;
    const native_handle_type handles[] = {static_cast<native_handle_type>(100000), 3,
                                          static_cast<native_handle_type>(65536),
                                          static_cast<native_handle_type>(1 << 20),
                                          static_cast<native_handle_type>(70000)};
    for (native_handle_type h : handles) {
        detail::Registration r{};
        r.handle = h;
        r.token = static_cast<std::uint64_t>(h) + 1;
        REQUIRE(registry.insert(r));
        CHECK_FALSE(registry.insert(r));  // already there
    }
    CHECK(registry.size() == 5);
    for (native_handle_type h : handles) {
        detail::Registration* found = registry.find(h);
        REQUIRE(found != nullptr);
        CHECK(found->token == static_cast<std::uint64_t>(h) + 1);
    }
    CHECK(registry.find(static_cast<native_handle_type>(65537)) == nullptr);
    CHECK(registry.find(static_cast<native_handle_type>(99999)) == nullptr);
    CHECK(registry.find(static_cast<native_handle_type>(2000000)) == nullptr);
    // Erasing moves the last entry into the hole: its lookup must follow it.
    registry.erase(registry.find(static_cast<native_handle_type>(100000)));
    registry.erase(registry.find(static_cast<native_handle_type>(65536)));
    CHECK(registry.size() == 3);
    CHECK(registry.find(static_cast<native_handle_type>(100000)) == nullptr);
    CHECK(registry.find(static_cast<native_handle_type>(65536)) == nullptr);
    for (native_handle_type h : {static_cast<native_handle_type>(3), static_cast<native_handle_type>(1 << 20),
                                 static_cast<native_handle_type>(70000)}) {
        detail::Registration* found = registry.find(h);
        REQUIRE(found != nullptr);
        CHECK(found->handle == h);
        CHECK(found->token == static_cast<std::uint64_t>(h) + 1);
    }
}

#if !defined(_WIN32)
TEST_CASE("select refuses a descriptor >= FD_SETSIZE instead of overrunning fd_set", "[poller]") {
    rlimit limit{};
    REQUIRE(::getrlimit(RLIMIT_NOFILE, &limit) == 0);
    rlimit raised = limit;
    if (raised.rlim_cur < FD_SETSIZE + 16) raised.rlim_cur = std::min<rlim_t>(raised.rlim_max, FD_SETSIZE + 16);
    REQUIRE(::setrlimit(RLIMIT_NOFILE, &raised) == 0);
    REQUIRE(raised.rlim_cur > FD_SETSIZE);

    Socket low = Socket::tcp();
    int high_fd = ::fcntl(low.native_handle(), F_DUPFD_CLOEXEC, FD_SETSIZE);
    REQUIRE(high_fd >= FD_SETSIZE);
    Socket high(high_fd);

    SelectPoller select;
    std::error_code ec;
    select.add(high, Events::readable, 1, ec);
    CHECK(ec == errc::handle_out_of_range);
    CHECK(select.size() == 0);
    CHECK_THROWS_AS(select.add(high, Events::readable, 1), std::system_error);
    select.add(low, Events::readable, 1, ec);
    CHECK_FALSE(ec);

    PollPoller poll;  // the other backends have no such limit
    poll.add(high, Events::readable, 1);
    CHECK(poll.size() == 1);
    high.close();
    ::setrlimit(RLIMIT_NOFILE, &limit);
}
#endif

#if !defined(_WIN32)
template <class P>
static void check_high_descriptor(Socket& high, Socket& peer) {
    P poller;
    poller.add(high, Events::readable, 42);
    CHECK(poller.size() == 1);
    REQUIRE(peer.send_all("x", 1) == 1);
    const auto& ready = poller.wait(guard);
    REQUIRE(ready.size() == 1);
    CHECK(ready[0].token == 42);
    CHECK(ready[0].handle == high.native_handle());
    poller.remove(high);
    CHECK(poller.size() == 0);
}

TEST_CASE("a descriptor past the registry's table (>= 65536) is polled like any other", "[poller]") {
    rlimit limit{};
    REQUIRE(::getrlimit(RLIMIT_NOFILE, &limit) == 0);
    const rlim_t wanted = 65536 + 16;
    if (limit.rlim_max != RLIM_INFINITY && limit.rlim_max < wanted) {
        WARN("RLIMIT_NOFILE hard limit " << limit.rlim_max << ": no descriptor >= 65536 here");
        return;
    }
    rlimit raised = limit;
    if (raised.rlim_cur != RLIM_INFINITY && raised.rlim_cur < wanted) raised.rlim_cur = wanted;
    REQUIRE(::setrlimit(RLIMIT_NOFILE, &raised) == 0);
    auto [low, peer] = socket_pair();
    int high_fd = ::fcntl(low.native_handle(), F_DUPFD_CLOEXEC, 65536);
    if (high_fd < 0) {
        WARN("no descriptor >= 65536: " << std::error_code(errno, std::generic_category()).message());
    } else {
        Socket high(high_fd);
        check_high_descriptor<PollPoller>(high, peer);
        char byte;
        REQUIRE(low.recv(&byte, 1) == 1);
#if defined(SOCKETS_HAS_EPOLL)
        check_high_descriptor<EpollPoller>(high, peer);
#endif
    }
    ::setrlimit(RLIMIT_NOFILE, &limit);
}
#endif
