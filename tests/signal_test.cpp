// Signals during every blocking call, on every socket family (#23): a handler installed without
// SA_RESTART, and a thread sending the signal to the caller again and again. The call must
// neither fail with EINTR nor report a success that did not happen (a Unix-domain connect
// reported "connected" on a socket that was not), and it must complete when the peer acts.
// POSIX only: Windows has no signals that interrupt a socket call.
#include <sockets/sockets.hpp>
#include <sockets/poller.hpp>

#include <atomic>
#include <chrono>
#include <functional>
#include <future>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "catch.hpp"
#include "support.hpp"

using namespace sockets;
using namespace std::chrono_literals;

#if !defined(_WIN32)

#include <csignal>
#include <pthread.h>
#include <unistd.h>

namespace {

using Clock = std::chrono::steady_clock;

std::atomic<int> delivered{0};
void count_signal(int) { delivered.fetch_add(1, std::memory_order_relaxed); }

// SIGUSR1 handled without SA_RESTART (so a blocked system call returns EINTR), for one test.
struct InterruptingHandler {
    struct sigaction old {};
    InterruptingHandler() {
        struct sigaction action {};
        action.sa_handler = count_signal;
        sigemptyset(&action.sa_mask);
        action.sa_flags = 0;
        ::sigaction(SIGUSR1, &action, &old);
    }
    ~InterruptingHandler() { ::sigaction(SIGUSR1, &old, nullptr); }
};

template <class R>
struct Outcome {
    R result;
    bool waited;  // still in the call when the peer acted (nothing could have completed it)
    int signals;  // delivered while the call ran
};

// Runs call on a thread of its own and interrupts it with SIGUSR1 every millisecond: 20
// signals with the peer idle, then act() (the peer does its part), then on until the call
// returns. rescue() must make a call that hangs return (20 s guard). No Catch2 assertions
// off the main thread.
template <class Call>
auto interrupted(Call call, const std::function<void()>& act, const std::function<void()>& rescue)
    -> Outcome<decltype(call())> {
    using R = decltype(call());
    InterruptingHandler handler;
    std::atomic<bool> started{false}, finished{false};
    std::optional<R> result;
    std::thread worker([&] {
        started = true;
        result.emplace(call());
        finished = true;
    });
    while (!started) std::this_thread::yield();
    const int before = delivered.load();
    auto signal = [&] {
        ::pthread_kill(worker.native_handle(), SIGUSR1);
        std::this_thread::sleep_for(1ms);  // pacing the signals, not synchronising
    };
    while (delivered.load() - before < 20 && !finished) signal();
    const bool waited = !finished;
    act();
    const auto guard = Clock::now() + 20s;
    while (!finished && Clock::now() < guard) signal();
    const bool hung = !finished;
    if (hung) rescue();
    worker.join();
    CHECK_FALSE(hung);
    return {std::move(*result), waited, delivered.load() - before};
}

// A fresh path in /tmp, removed again when the test ends.
struct TempPath {
    std::string path;
    explicit TempPath(const char* tag)
        : path("/tmp/sockets-signal-test-" + std::to_string(::getpid()) + "-" + tag) { ::unlink(path.c_str()); }
    ~TempPath() { ::unlink(path.c_str()); }
};

}  // namespace

TEST_CASE("a Unix-domain connect interrupted while the backlog is full connects for real (#23)", "[signals][unix][connect]") {
    TempPath where("connect");
    const Address address = Address::unix_path(where.path);
    Socket listener = listen_on(address, 0);
    // Fill the backlog (0: one pending connection on Linux; more elsewhere).
    std::vector<Socket> fillers;
    for (int i = 0; i < 64; ++i) {
        Socket s = Socket::open(Family::unix_domain, Type::stream);
        s.set_nonblocking(true);
        std::error_code ec;
        if (s.start_connect(address, ec) || !ec) {
            fillers.push_back(std::move(s));
            continue;
        }
        REQUIRE(ec == std::errc::resource_unavailable_try_again);
        break;
    }
    REQUIRE(fillers.size() < 64);

    TempPath client_path("connect-client");  // a name, so the server can tell it from the fillers
    Socket client = Socket::open(Family::unix_domain, Type::stream);
    client.bind(Address::unix_path(client_path.path));
    std::vector<Socket> accepted;
    auto outcome = interrupted(
        [&] {
            std::error_code ec;
            client.connect(address, ec);
            return ec;
        },
        [&] { accepted.push_back(listener.accept()); },  // room for one more
        [&] { listener.close(); });
    CHECK_FALSE(outcome.result);
    CHECK(outcome.waited);
    CHECK(outcome.signals >= 20);
    // Really connected: the listener hands it out after the fillers, and bytes flow both ways.
    Socket server;
    for (std::size_t i = 0; i <= fillers.size() && !server; ++i) {
        Socket s = listener.accept(10s);
        if (s.peer_address() == client.local_address()) server = std::move(s);
    }
    REQUIRE(server);
    client.send_all("?");
    char probe = 0;
    CHECK(server.recv_exact(&probe, 1, 10s) == 1);
    server.send_all("!");
    char reply = 0;
    CHECK(client.recv_exact(&reply, 1, 10s) == 1);
    CHECK(reply == '!');
}


namespace {

bool ipv6_available() {
    std::error_code ec;
    Socket probe = listen_on(Address::loopback(Family::ipv6), ec);
    return !ec;
}

// Every stream family here: IPv4, IPv6 where the machine has it, Unix domain.
std::vector<Family> stream_families() {
    std::vector<Family> families{Family::ipv4};
    if (ipv6_available()) families.push_back(Family::ipv6);
    families.push_back(Family::unix_domain);
    return families;
}

const char* name_of(Family f) {
    return f == Family::ipv4 ? "IPv4" : f == Family::ipv6 ? "IPv6" : "Unix domain";
}

// A listener and a connected client/server pair of one family.
struct StreamPair {
    std::unique_ptr<TempPath> path;
    Address address;
    Socket listener, client, server;
    explicit StreamPair(Family family) {
        if (family == Family::unix_domain) {
            path = std::make_unique<TempPath>("stream");
            address = Address::unix_path(path->path);
        } else {
            address = Address::loopback(family, 0);
        }
        listener = listen_on(address);
        address = listener.local_address();
        if (family == Family::unix_domain) address = Address::unix_path(path->path);
        client = connect_to(address);
        server = listener.accept();
    }
};

// A datagram receiver and a sender of one family (bound, so replies and names work).
struct DatagramPair {
    std::unique_ptr<TempPath> receiver_path, sender_path;
    Socket receiver, sender;
    Address to;
    explicit DatagramPair(Family family) {
        receiver = Socket::open(family, Type::datagram);
        sender = Socket::open(family, Type::datagram);
        if (family == Family::unix_domain) {
            receiver_path = std::make_unique<TempPath>("dgram-r");
            sender_path = std::make_unique<TempPath>("dgram-s");
            receiver.bind(Address::unix_path(receiver_path->path));
            sender.bind(Address::unix_path(sender_path->path));
            to = Address::unix_path(receiver_path->path);
        } else {
            receiver.bind(Address::loopback(family, 0));
            sender.bind(Address::loopback(family, 0));
            to = receiver.local_address();
        }
    }
};

std::vector<Family> datagram_families() {
    std::vector<Family> families{Family::ipv4};
    if (ipv6_available()) families.push_back(Family::ipv6);
    families.push_back(Family::unix_domain);
    return families;
}

}  // namespace

TEST_CASE("signals during accept, recv, recv_exact and read_line: every stream family", "[signals]") {
    for (Family family : stream_families()) {
        INFO(name_of(family));
        StreamPair p(family);
        auto rescue = [&] { p.server.shutdown(Shutdown::both), p.client.shutdown(Shutdown::both); };

        Socket late;
        auto accepted = interrupted(
            [&] {
                std::error_code ec;
                Socket s = p.listener.accept(ec);
                return std::make_pair(std::move(s), ec);
            },
            [&] { late = connect_to(p.address); }, [&] { p.listener.shutdown(Shutdown::both); });
        CHECK(accepted.waited);
        CHECK_FALSE(accepted.result.second);
        REQUIRE(accepted.result.first.is_open());
        late.send_all("a");
        char c = 0;
        CHECK(accepted.result.first.recv_exact(&c, 1, 10s) == 1);

        char buffer[16] = {};
        auto received = interrupted(
            [&] {
                std::error_code ec;
                std::size_t n = p.server.recv(buffer, sizeof buffer, ec);
                return std::make_pair(n, ec);
            },
            [&] { p.client.send_all("abc"); }, rescue);
        CHECK(received.waited);
        CHECK_FALSE(received.result.second);
        // recv returns what is there: one byte at least (a short transfer may leave the rest).
        std::size_t got = received.result.first;
        REQUIRE(got >= 1);
        REQUIRE(got <= 3);
        if (got < 3) got += p.server.recv_exact(buffer + got, 3 - got, 10s);
        CHECK(std::string(buffer, got) == "abc");

        p.client.send_all("abc");  // half of it first: interrupted mid-loop, with bytes in hand
        auto exact = interrupted(
            [&] {
                std::error_code ec;
                std::size_t n = p.server.recv_exact(buffer, 6, ec);
                return std::make_pair(n, ec);
            },
            [&] { p.client.send_all("def"); }, rescue);
        CHECK(exact.waited);
        CHECK_FALSE(exact.result.second);
        CHECK(std::string(buffer, exact.result.first) == "abcdef");

        StreamReader reader(p.server);
        p.client.send_all("hel");
        auto line = interrupted(
            [&] {
                std::error_code ec;
                std::string text(reader.read_line(ec));
                return std::make_pair(text, ec);
            },
            [&] { send_line(p.client, "lo"); }, rescue);
        CHECK(line.waited);
        CHECK_FALSE(line.result.second);
        CHECK(line.result.first == "hello");
    }
}

TEST_CASE("signals during send_all and send_message into a full buffer: every stream family", "[signals]") {
    for (Family family : stream_families()) {
        INFO(name_of(family));
        StreamPair p(family);
        p.client.set_send_buffer_size(16 * 1024);
        p.server.set_receive_buffer_size(16 * 1024);
        const auto bytes = test::pattern(4u << 20, 11);
        const std::string payload(bytes.begin(), bytes.end());
        auto rescue = [&] { p.server.shutdown(Shutdown::both), p.client.shutdown(Shutdown::both); };

        std::future<std::string> reader;
        auto sent = interrupted(
            [&] {
                std::error_code ec;
                std::size_t n = p.client.send_all(payload, ec);
                return std::make_pair(n, ec);
            },
            [&] {
                reader = std::async(std::launch::async, [&] {
                    std::string got(payload.size(), '\0');
                    std::error_code ec;
                    std::size_t n = p.server.recv_exact(got, 30s, ec);
                    got.resize(n);
                    return got;
                });
            },
            rescue);
        CHECK(sent.waited);
        CHECK_FALSE(sent.result.second);
        CHECK(sent.result.first == payload.size());
        CHECK((reader.get() == payload));

        auto framed = interrupted(
            [&] {
                std::error_code ec;
                std::size_t n = send_message(p.client, payload, ec);
                return std::make_pair(n, ec);
            },
            [&] {
                reader = std::async(std::launch::async, [&] {
                    StreamReader r(p.server, payload.size());
                    std::error_code ec;
                    return std::string(r.read_message(30s, ec));
                });
            },
            rescue);
        CHECK(framed.waited);
        CHECK_FALSE(framed.result.second);
        CHECK(framed.result.first == 4 + payload.size());
        CHECK((reader.get() == payload));
    }
}

TEST_CASE("signals during a blocking TCP connect to a full backlog: it connects for real", "[signals][connect]") {
    for (Family family : {Family::ipv4, Family::ipv6}) {
        if (family == Family::ipv6 && !ipv6_available()) continue;
        INFO(name_of(family));
        Socket listener = listen_on(Address::loopback(family, 0), 0);
        const Address address = listener.local_address();
        std::vector<Socket> queued;  // until the kernel drops further SYNs: connect then hangs
        std::error_code full;
        for (int i = 0; i < 64 && !full; ++i) {
            Socket s = connect_to(address, 300ms, full);
            if (!full) queued.push_back(std::move(s));
        }
        if (full != std::errc::timed_out) {
            WARN("a full backlog does not make connect wait here: " << full.message());
            continue;
        }
        Socket client = Socket::open(family, Type::stream);
        std::vector<Socket> accepted;
        auto outcome = interrupted(
            [&] {
                std::error_code ec;
                client.connect(address, ec);
                return ec;
            },
            [&] { accepted.push_back(listener.accept()); },  // room: the SYN's retry gets in
            [&] { listener.close(); });
        CHECK(outcome.waited);
        CHECK_FALSE(outcome.result);
        // Really connected: the listener hands it out and bytes flow.
        const Address mine = client.local_address();
        Socket server;
        for (std::size_t i = 0; i <= queued.size() && !server; ++i) {
            Socket s = listener.accept(10s);
            if (s.peer_address() == mine) server = std::move(s);
        }
        REQUIRE(server);
        client.send_all("?");
        char c = 0;
        CHECK(server.recv_exact(&c, 1, 10s) == 1);
    }
}

TEST_CASE("signals during recv_from and recv_many: every datagram family", "[signals][datagram]") {
    for (Family family : datagram_families()) {
        INFO(name_of(family));
        DatagramPair p(family);
        auto rescue = [&] { p.sender.send_to(p.to, "unblock"), p.sender.send_to(p.to, "unblock"); };
        char buffer[64] = {};
        auto got = interrupted(
            [&] {
                std::error_code ec;
                Datagram d = p.receiver.recv_from(buffer, sizeof buffer, ec);
                return std::make_pair(d, ec);
            },
            [&] { p.sender.send_to(p.to, "datagram"); }, rescue);
        CHECK(got.waited);
        CHECK_FALSE(got.result.second);
        CHECK(std::string(buffer, got.result.first.size) == "datagram");
        if (family != Family::unix_domain) CHECK(got.result.first.sender == p.sender.local_address());

        std::string storage(64, '\0');
        IncomingDatagram in;
        in.buffer = MutableBuffer(storage);
        auto batch = interrupted(
            [&] {
                std::error_code ec;
                std::size_t n = recv_many(p.receiver, &in, 1, ec);
                return std::make_pair(n, ec);
            },
            [&] { p.sender.send_to(p.to, "batched"); }, rescue);
        CHECK(batch.waited);
        CHECK_FALSE(batch.result.second);
        CHECK(batch.result.first == 1);
        CHECK(storage.substr(0, in.size) == "batched");
    }
}

TEST_CASE("signals during send_to and send_many to a full Unix datagram queue", "[signals][datagram][unix]") {
    DatagramPair p(Family::unix_domain);
    const std::string datagram(512, 'q');
    auto fill = [&] {
        std::error_code ec;
        std::size_t queued = 0;
        while (!ec) queued += p.sender.send_to(p.to, datagram, 0s, ec) > 0 ? 1 : 0;
        REQUIRE(ec == std::errc::timed_out);
        return queued;
    };
    auto drain = [&](std::size_t count) {  // runs beside the blocked sender
        return std::async(std::launch::async, [&, count] {
            char buffer[1024];
            std::size_t got = 0;
            for (; got < count; ++got) {
                std::error_code ec;
                (void)p.receiver.recv_from(buffer, sizeof buffer, 30s, ec);
                if (ec) break;
            }
            return got;
        });
    };
    auto rescue = [&] {
        char buffer[1024];
        std::error_code ec;
        while (!ec) (void)p.receiver.recv_from(buffer, sizeof buffer, 0s, ec);
    };
    std::size_t queued = fill();
    std::future<std::size_t> drained;
    auto sent = interrupted(
        [&] {
            std::error_code ec;
            std::size_t n = p.sender.send_to(p.to, datagram, ec);
            return std::make_pair(n, ec);
        },
        [&] { drained = drain(queued + 1); }, rescue);
    CHECK(sent.waited);
    CHECK_FALSE(sent.result.second);
    CHECK(sent.result.first == datagram.size());
    CHECK(drained.get() == queued + 1);

    queued = fill();
    std::vector<OutgoingDatagram> out(3, OutgoingDatagram{ConstBuffer(datagram), &p.to});
    auto batch = interrupted(
        [&] {
            std::error_code ec;
            std::size_t n = send_many(p.sender, out.data(), out.size(), ec);
            return std::make_pair(n, ec);
        },
        [&] { drained = drain(queued + out.size()); }, rescue);
    CHECK(batch.waited);
    CHECK_FALSE(batch.result.second);
    CHECK(batch.result.first == out.size());
    CHECK(drained.get() == queued + out.size());
}

namespace {
template <class P>
void interrupted_poller_wait() {
    for (Family family : stream_families()) {
        INFO(P::name << ", " << name_of(family));
        StreamPair p(family);
        P poller;
        poller.add(p.server, Events::readable, 42);
        auto woke = interrupted(
            [&] {
                std::error_code ec;
                std::vector<std::uint64_t> tokens;
                for (const Ready& r : poller.wait(ec)) tokens.push_back(r.token);
                return std::make_pair(tokens, ec);
            },
            [&] { p.client.send_all("x"); }, [&] { poller.wake(); });
        CHECK(woke.waited);
        CHECK_FALSE(woke.result.second);
        CHECK(woke.result.first == std::vector<std::uint64_t>{42});
    }
}
}  // namespace

TEST_CASE("signals during a Poller wait without a deadline: every backend", "[signals][poller]") {
    SECTION("select") { interrupted_poller_wait<SelectPoller>(); }
    SECTION("poll") { interrupted_poller_wait<PollPoller>(); }
#if defined(SOCKETS_HAS_EPOLL)
    SECTION("epoll") { interrupted_poller_wait<EpollPoller>(); }
#endif
}

#endif
