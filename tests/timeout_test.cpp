// Timeouts, deadlines, dead peers and graceful close (the HOWTO: a dead peer can hang a
// blocking socket forever; shutdown comes before close).
#include <sockets/sockets.hpp>

#include <chrono>
#include <future>
#include <thread>
#include <vector>

#include "catch.hpp"
#include "support.hpp"

using namespace sockets;
using namespace std::chrono_literals;

using Clock = std::chrono::steady_clock;

TEST_CASE("recv_exact with a timeout reports the partial data and leaves the socket usable", "[timeout]") {
    auto p = test::tcp_pair();
    p.client.send_all(std::string("abc"));
    char buffer[10] = {};
    std::error_code ec;
    auto start = Clock::now();
    CHECK(p.server.recv_exact(buffer, sizeof buffer, 100ms, ec) == 3);
    CHECK(Clock::now() - start >= 100ms);
    CHECK(ec == std::errc::timed_out);
    CHECK(std::string(buffer, 3) == "abc");
    // Nothing was lost: the rest arrives later and the stream continues where it stopped.
    p.client.send_all(std::string("defghij"));
    CHECK(p.server.recv_exact(buffer + 3, 7, 10s) == 7);
    CHECK(std::string(buffer, 10) == "abcdefghij");

    try {
        p.server.recv_exact(buffer, 1, 20ms);
        FAIL("no exception");
    } catch (const TransferError& e) {
        CHECK(e.code() == std::errc::timed_out);
        CHECK(e.bytes_transferred() == 0);
    }
}

TEST_CASE("a deadline covers the whole transfer, not each call", "[timeout]") {
    auto p = test::tcp_pair();
    // A trickle of one byte every few ms would keep a per-call timeout alive forever.
    auto trickle = std::async(std::launch::async, [&] {
        for (int i = 0; i < 40; ++i) {
            std::error_code ec;
            p.client.send_all("x", 1, ec);
            if (ec) return;
            std::this_thread::sleep_for(10ms);  // pacing the sender, not synchronising the test
        }
    });
    std::vector<char> buffer(1000);
    std::error_code ec;
    auto start = Clock::now();
    std::size_t n = p.server.recv_exact(buffer.data(), buffer.size(), 150ms, ec);
    auto took = Clock::now() - start;
    CHECK(ec == std::errc::timed_out);
    CHECK(n < buffer.size());
    CHECK(took >= 150ms);
    CHECK(took < 5s);  // hang guard: the deadline did stop it
    trickle.get();
}

TEST_CASE("send_all with a timeout against a peer that does not read reports what was sent", "[timeout]") {
    auto p = test::tcp_pair();
    p.client.set_send_buffer_size(64 * 1024);
    p.server.set_receive_buffer_size(64 * 1024);
    auto data = test::pattern(64u << 20, 9);  // far more than the socket buffers hold
    std::error_code ec;
    std::size_t sent = p.client.send_all(data.data(), data.size(), 200ms, ec);
    CHECK(ec == std::errc::timed_out);
    CHECK(sent > 0);
    CHECK(sent < data.size());
    // Exactly the reported bytes are in flight: read them back and compare.
    std::vector<unsigned char> received(sent);
    CHECK(p.server.recv_exact(received.data(), received.size(), 10s) == sent);
    CHECK(std::equal(received.begin(), received.end(), data.begin()));
    char extra;
    p.server.set_nonblocking(true);  // try_recv needs it on Windows
    CHECK_FALSE(p.server.try_recv(&extra, 1).has_value());  // and not one byte more
}

TEST_CASE("accept with a timeout gives up, then still accepts", "[timeout]") {
    Socket listener = listen_on(Address::loopback(Family::ipv4));
    std::error_code ec;
    auto start = Clock::now();
    Socket none = listener.accept(50ms, ec);
    CHECK(ec == std::errc::timed_out);
    CHECK_FALSE(none.is_open());
    CHECK(Clock::now() - start >= 50ms);
    CHECK_THROWS_AS(listener.accept(10ms), std::system_error);

    Socket client = connect_to(listener.local_address());
    Address remote;
    Socket peer = listener.accept(remote, 10s);
    CHECK(remote == client.local_address());
#if !defined(_WIN32)
    bool nonblocking = true;
    detail::is_nonblocking(listener.native_handle(), nonblocking);
    CHECK_FALSE(nonblocking);  // the listener's mode is restored
    detail::is_nonblocking(peer.native_handle(), nonblocking);
    CHECK_FALSE(nonblocking);
#endif
}

TEST_CASE("connect with a timeout to a listener whose backlog is full times out", "[timeout]") {
    // Once the accept queue is full the kernel drops further SYNs, so the connect hangs:
    // exactly the dead-peer case, made offline. (Some stacks refuse instead: accepted too.)
    Socket listener = listen_on(Address::loopback(Family::ipv4), 0);
    std::vector<Socket> queued;
    std::error_code ec;
    for (int i = 0; i < 64 && !ec; ++i) {
        Socket s = connect_to(listener.local_address(), 300ms, ec);
        if (!ec) queued.push_back(std::move(s));
    }
    REQUIRE(ec);
    CHECK((ec == std::errc::timed_out || ec == std::errc::connection_refused));
    INFO("connections queued before the timeout: " << queued.size());

    // The throwing form names the address; one deadline spans every resolved address.
    auto start = Clock::now();
    try {
        connect_to("localhost", listener.local_address().port(), 200ms);
    } catch (const std::system_error& e) {
        CHECK(std::string(e.what()).find("connect localhost:") == 0);
    }
    CHECK(Clock::now() - start < 5s);
}

TEST_CASE("a timed connect to a live listener succeeds and restores blocking mode", "[timeout]") {
    Socket listener = listen_on(Address::loopback(Family::ipv4));
    Socket s = Socket::tcp();
    s.connect(listener.local_address(), 10s);
    CHECK(s.peer_address() == listener.local_address());
#if !defined(_WIN32)
    bool nonblocking = true;
    detail::is_nonblocking(s.native_handle(), nonblocking);
    CHECK_FALSE(nonblocking);
#endif
    Socket by_name = connect_to("localhost", listener.local_address().port(), 10s);
    CHECK(by_name.is_open());
}

TEST_CASE("SO_RCVTIMEO makes a blocking recv fail with timed_out", "[timeout][options]") {
    auto p = test::tcp_pair();
    p.server.set_receive_timeout(50ms);
    char c;
    std::error_code ec;
    auto start = Clock::now();
    p.server.recv(&c, 1, ec);
    CHECK(ec == std::errc::timed_out);
    CHECK(Clock::now() - start >= 40ms);  // the kernel rounds to its tick
    p.server.set_receive_timeout(0ms);
    p.server.set_send_timeout(100ms);
}

TEST_CASE("keep-alive tuning is applied where the OS offers it", "[timeout][options]") {
    auto p = test::tcp_pair();
    p.client.set_keep_alive(30, 5, 4);
    CHECK(p.client.keep_alive());
#if defined(TCP_KEEPIDLE)
    int idle = 0;
    std::error_code ec;
    p.client.get_option(IPPROTO_TCP, TCP_KEEPIDLE, idle, ec);
    CHECK(idle == 30);
    int count = 0;
    p.client.get_option(IPPROTO_TCP, TCP_KEEPCNT, count, ec);
    CHECK(count == 4);
#endif
}

TEST_CASE("graceful_close: data sent right before close arrives whole", "[close]") {
    auto p = test::tcp_pair();
    // The client's request is left unread: a plain close would then reset the connection and
    // could destroy the reply in flight. graceful_close drains it first.
    p.client.send_all(std::string(1000, 'q'));
    auto reply = test::pattern(4u << 20, 11);
    auto server = std::async(std::launch::async, [&] {
        p.server.send_all(reply.data(), reply.size());
        return p.server.graceful_close(10s);
    });
    std::vector<unsigned char> received(reply.size());
    p.client.recv_exact(received.data(), received.size(), 30s);
    CHECK((received == reply));  // parenthesised: a mismatch must not print megabytes
    char c;
    std::error_code ec;
    CHECK(p.client.recv(&c, 1, 10s, ec) == 0);  // orderly end, no reset
    CHECK_FALSE(ec);
    p.client.close();
    CloseResult closed = server.get();
    CHECK(closed.ending == CloseResult::peer_closed);
    CHECK(closed.discarded == 1000);  // it discarded exactly the unread request
    CHECK_FALSE(p.server.is_open());
}

TEST_CASE("linger zero: close resets the connection", "[close][options]") {
    auto p = test::tcp_pair();
    p.client.set_linger(std::chrono::seconds(0));
    p.client.close();
    char c;
    std::error_code ec;
    p.server.recv(&c, 1, 10s, ec);
    if (test::running_under_wine() && !ec)
        WARN("wine does not turn SO_LINGER 0 into a reset; real Windows and Linux do");
    else
        CHECK(ec == std::errc::connection_reset);
    Socket s = Socket::tcp();
    s.set_linger(std::chrono::seconds(5));
    s.set_linger(std::nullopt);
}
