// UDP: datagrams, connected UDP, truncation, broadcast and multicast options.
#include <sockets/sockets.hpp>

#include <chrono>
#include <string>
#include <utility>

#include "catch.hpp"
#include "support.hpp"

#if !defined(_WIN32)
#include <net/if.h>
#endif

using namespace sockets;
using namespace std::chrono_literals;

TEST_CASE("UDP round trip over IPv4 and IPv6 loopback", "[udp]") {
    for (Family family : {Family::ipv4, Family::ipv6}) {
        Socket a = Socket::udp(family);
        Socket b = Socket::udp(family);
        a.bind(Address::loopback(family));
        b.bind(Address::loopback(family));
        CHECK(a.send_to(b.local_address(), "ping") == 4);
        char buffer[16];
        Datagram d = b.recv_from(buffer, sizeof buffer, 10s);
        CHECK(d.size == 4);
        CHECK_FALSE(d.truncated);
        CHECK(d.sender == a.local_address());
        CHECK(std::string(buffer, 4) == "ping");
        b.send_to(d.sender, "pong");
        d = a.recv_from(buffer, sizeof buffer);
        CHECK(std::string(buffer, d.size) == "pong");
    }
}

TEST_CASE("an empty datagram is a datagram", "[udp]") {
    Socket a = Socket::udp(), b = Socket::udp();
    b.bind(Address::loopback(Family::ipv4));
    a.send_to(b.local_address(), "");
    char buffer[4];
    Datagram d = b.recv_from(buffer, sizeof buffer, 10s);
    CHECK(d.size == 0);
    CHECK_FALSE(d.truncated);
}

TEST_CASE("a datagram larger than the buffer is cut and reported", "[udp]") {
    Socket a = Socket::udp(), b = Socket::udp();
    b.bind(Address::loopback(Family::ipv4));
    std::string big(100, 'z');
    a.send_to(b.local_address(), big);
    a.send_to(b.local_address(), "next");
    char buffer[10];
    Datagram d = b.recv_from(buffer, sizeof buffer, 10s);
    CHECK(d.truncated);
    CHECK(d.size == 10);
    CHECK(std::string(buffer, 10) == big.substr(0, 10));
    d = b.recv_from(buffer, sizeof buffer, 10s);  // the rest of the big one is gone, not glued on
    CHECK_FALSE(d.truncated);
    CHECK(std::string(buffer, d.size) == "next");
}

TEST_CASE("connected UDP uses send and recv", "[udp]") {
    Socket a = Socket::udp(), b = Socket::udp();
    a.bind(Address::loopback(Family::ipv4));
    b.bind(Address::loopback(Family::ipv4));
    a.connect(b.local_address());
    b.connect(a.local_address());
    CHECK(a.send("hello", 5) == 5);
    char buffer[8];
    CHECK(b.recv(buffer, sizeof buffer, 10s) == 5);
    CHECK(std::string(buffer, 5) == "hello");
}

TEST_CASE("recv_exact refuses to glue datagrams together", "[udp]") {
    Socket a = Socket::udp(), b = Socket::udp();
    a.bind(Address::loopback(Family::ipv4));
    b.bind(Address::loopback(Family::ipv4));
    a.connect(b.local_address());
    (void)a.send("abc", 3);
    (void)a.send("def", 3);
    char buffer[6];
    std::error_code ec;
    CHECK(b.recv_exact(buffer, sizeof buffer, ec) == 3);  // the first datagram, reported
    CHECK(ec == errc::not_stream_socket);
    CHECK(std::string(buffer, 3) == "abc");
    try {
        b.recv_exact(buffer, sizeof buffer);
        FAIL("no exception");
    } catch (const TransferError& e) {
        CHECK(e.code() == errc::not_stream_socket);
        CHECK(e.bytes_transferred() == 3);  // "def": nothing is lost
        CHECK(std::string(buffer, 3) == "def");
    }
}

TEST_CASE("a truncated datagram never passes silently: recv, recv_exact, try_recv, timed recv", "[udp][truncation]") {
    Socket a = Socket::udp(), b = Socket::udp();
    a.bind(Address::loopback(Family::ipv4));
    b.bind(Address::loopback(Family::ipv4));
    a.connect(b.local_address());
    char buffer[4];
    std::error_code ec;

    (void)a.send("12345678", 8);
    CHECK(b.recv_exact(buffer, 4, ec) == 4);  // asked for 4, the datagram held 8
    CHECK(ec == errc::datagram_truncated);
    CHECK(std::string(buffer, 4) == "1234");

    (void)a.send("abcdefgh", 8);
    CHECK(b.recv(buffer, 4, 10s, ec) == 4);
    CHECK(ec == errc::datagram_truncated);

    (void)a.send("ABCDEFGH", 8);
    (void)b.try_recv(buffer, 4, ec);  // loopback queues a datagram before send returns
    CHECK(ec == errc::datagram_truncated);

    (void)a.send("xyzw5678", 8);
    try {
        (void)b.recv(buffer, 4);
        FAIL("no exception");
    } catch (const TransferError& e) {
        CHECK(e.code() == errc::datagram_truncated);
        CHECK(e.bytes_transferred() == 4);
    }
    // A datagram that fits exactly is no error.
    (void)a.send("fits", 4);
    CHECK(b.recv_exact(buffer, 4, 10s, ec) == 4);
    CHECK_FALSE(ec);
}

#if !defined(_WIN32)
TEST_CASE("datagram socket_pair and adopted handles report truncation too", "[udp][truncation]") {
    auto pair = socket_pair(Type::datagram);
    (void)pair.first.send("0123456789", 10);
    char buffer[4];
    std::error_code ec;
    CHECK(pair.second.recv(buffer, sizeof buffer, ec) == 4);
    CHECK(ec == errc::datagram_truncated);
    Socket adopted(pair.second.release());  // the kind is learnt from the OS
    (void)pair.first.send("0123456789", 10);
    CHECK(adopted.recv_exact(buffer, sizeof buffer, ec) == 4);
    CHECK(ec == errc::datagram_truncated);
}
#endif

TEST_CASE("an unreachable peer does not break an unconnected UDP socket", "[udp]") {
    // Windows reports the ICMP port-unreachable of an earlier send_to as WSAECONNRESET on the
    // next recvfrom unless SIO_UDP_CONNRESET is off; POSIX reports it only on connected sockets.
    Socket server = Socket::udp();
    server.bind(Address::loopback(Family::ipv4));
    Address nobody;
    Socket held = test::unreachable_udp_port(Family::ipv4, nobody);
    server.send_to(nobody, std::string("anyone?"));
    char buffer[16];
    std::error_code ec;
    (void)server.recv_from(buffer, sizeof buffer, 200ms, ec);
    CHECK(ec == std::errc::timed_out);
    Socket client = Socket::udp();
    client.send_to(server.local_address(), std::string("hi"));
    Datagram d = server.recv_from(buffer, sizeof buffer, 10s);  // still serving
    CHECK(d.size == 2);
}

TEST_CASE("recv_from with a timeout on an idle socket times out", "[udp][timeout]") {
    Socket s = Socket::udp();
    s.bind(Address::loopback(Family::ipv4));
    char buffer[4];
    std::error_code ec;
    (void)s.recv_from(buffer, sizeof buffer, 30ms, ec);
    CHECK(ec == std::errc::timed_out);
}

TEST_CASE("broadcast and multicast options", "[udp][options]") {
    Socket s = Socket::udp();
    s.set_broadcast(true);
    CHECK(s.broadcast());
    s.bind(Address::any(Family::ipv4));
    std::error_code ec;
    Address group = Address::parse("239.255.0.1:0");
    s.join_multicast(group, ec);
    if (ec) {
        WARN("joining a multicast group failed here (" << ec.message() << "): no multicast route");
    } else {
        s.set_multicast_loop(true);
        s.leave_multicast(group);
        s.leave_multicast(group, ec);
        CHECK(ec);  // not a member any more
    }
    s.join_multicast(Address::parse("127.0.0.1:0"), ec);
    CHECK(ec);  // not a multicast address
}

namespace {
// The loopback interface's index: multicast confined to it needs no route and reaches no network.
unsigned loopback_index() {
#if defined(_WIN32)
    return 1;  // Windows numbers its Loopback Pseudo-Interface 1
#elif defined(__APPLE__)
    return ::if_nametoindex("lo0");
#else
    return ::if_nametoindex("lo");
#endif
}

std::string multicast_round_trip(Family family, const char* group_text) {
    unsigned lo = loopback_index();
    if (lo == 0) return "skip: no loopback interface index";
    Socket receiver = Socket::udp(family);
    receiver.bind(Address::any(family));
    // A link-local IPv6 group needs the interface as its scope to be sent to.
    std::string scoped = std::string(group_text) + (family == Family::ipv6 ? "%" + std::to_string(lo) : "");
    Address group = Address::from_ip(scoped, receiver.local_address().port());
    std::error_code ec;
    receiver.join_multicast(group, lo, ec);
    if (ec) return "skip: the kernel refuses to join on loopback: " + ec.message();
    Socket sender = Socket::udp(family);
    sender.set_multicast_interface(lo, family);
    sender.set_multicast_loop(true, family, ec);
    if (ec) return "set_multicast_loop: " + ec.message();
    sender.set_multicast_ttl(1, family);
    sender.send_to(group, "hello group", 11, ec);
    // Linux puts the ff00::/8 multicast route only on interfaces flagged MULTICAST, which lo is
    // not (seen here): IPv6, unlike IPv4, then has no route to send by, whatever the interface.
    if (ec == std::errc::network_unreachable)
        return "skip: no multicast route on loopback for this family: " + ec.message();
    if (ec) return "send_to: " + ec.message();
    char buffer[32];
    Datagram d = receiver.recv_from(buffer, sizeof buffer, 10s, ec);
    if (ec) return "recv_from: " + ec.message();
    return std::string(buffer, d.size);
}
}  // namespace

TEST_CASE("multicast confined to the loopback interface delivers to a joined socket", "[udp][multicast]") {
    for (auto [family, group] : {std::pair{Family::ipv4, "239.255.77.1"}, std::pair{Family::ipv6, "ff02::1:3377"}}) {
        INFO((family == Family::ipv4 ? "IPv4 " : "IPv6 ") << group);
        std::string got = multicast_round_trip(family, group);
        if (got.rfind("skip:", 0) == 0) {
            WARN(got);
            continue;
        }
        CHECK(got == "hello group");
    }
}

TEST_CASE("joining a multicast group on a nonexistent interface index fails", "[udp][multicast]") {
    for (auto [family, group] : {std::pair{Family::ipv4, "239.255.77.2"}, std::pair{Family::ipv6, "ff02::1:3378"}}) {
        INFO(group);
        Socket s = Socket::udp(family);
        s.bind(Address::any(family));
        std::error_code ec;
        s.join_multicast(Address::from_ip(group, 0), 999999u, ec);
        CHECK(ec);
        CHECK_THROWS_AS(s.join_multicast(Address::from_ip(group, 0), 999999u), std::system_error);
        s.set_multicast_interface(999999u, family, ec);
        CHECK(ec);
    }
}

TEST_CASE("multicast TTL and loop options", "[udp][multicast][options]") {
    Socket s = Socket::udp();
    std::error_code ec;
    s.set_multicast_ttl(0, Family::ipv4, ec);
    CHECK_FALSE(ec);
    s.set_multicast_ttl(255, Family::ipv4);
    s.set_multicast_ttl(256, Family::ipv4, ec);
    CHECK(ec == std::errc::invalid_argument);
    s.set_multicast_loop(false, Family::ipv4, ec);
    CHECK_FALSE(ec);
    Socket s6 = Socket::udp(Family::ipv6);
    s6.set_multicast_ttl(3, Family::ipv6);
    s6.set_multicast_loop(true, Family::ipv6);
    s6.set_multicast_ttl(-2, Family::ipv6, ec);
    CHECK(ec == std::errc::invalid_argument);
    Socket closed;
    closed.set_multicast_loop(true, Family::ipv4, ec);
    CHECK(ec == errc::not_open);
}
