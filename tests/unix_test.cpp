// Unix-domain sockets (POSIX; Windows 10+ has AF_UNIX but Debian's mingw headers may not).
#include <sockets/sockets.hpp>

#include <chrono>
#include <cstdio>
#include <string>

#include "catch.hpp"
#include "support.hpp"

using namespace sockets;
using namespace std::chrono_literals;

#if SOCKETS_HAS_UNIX_DOMAIN && !defined(_WIN32)

#include <unistd.h>

// A fresh path in /tmp, removed again when the test ends.
struct TempPath {
    std::string path;
    explicit TempPath(const char* tag)
        : path("/tmp/sockets-test-" + std::to_string(::getpid()) + "-" + tag) { ::unlink(path.c_str()); }
    ~TempPath() { ::unlink(path.c_str()); }
};

TEST_CASE("Unix stream sockets: listen, connect, transfer; to_string shows the path", "[unix]") {
    TempPath where("stream");
    Address address = Address::unix_path(where.path);
    CHECK(address.family() == Family::unix_domain);
    CHECK(address.to_string() == where.path);
    CHECK(address == Address::unix_path(where.path));
    Socket listener = listen_on(address);
    CHECK(listener.local_address() == address);
    Socket client = connect_to(address);
    Socket server = listener.accept();
    client.send_all(std::string("over a file"));
    std::string text(11, '\0');
    server.recv_exact(text);
    CHECK(text == "over a file");
    CHECK(client.peer_address().to_string() == where.path);
    CHECK(server.peer_address().to_string() == "(unnamed)");
}

TEST_CASE("Unix datagram sockets keep message boundaries", "[unix]") {
    TempPath a_path("dgram-a"), b_path("dgram-b");
    Socket a = Socket::open(Family::unix_domain, Type::datagram);
    Socket b = Socket::open(Family::unix_domain, Type::datagram);
    a.bind(Address::unix_path(a_path.path));
    b.bind(Address::unix_path(b_path.path));
    a.send_to(b.local_address(), "one");
    a.send_to(b.local_address(), "two!");
    char buffer[16];
    Datagram d = b.recv_from(buffer, sizeof buffer, 10s);
    CHECK(std::string(buffer, d.size) == "one");
    CHECK(d.sender.to_string() == a_path.path);
    d = b.recv_from(buffer, sizeof buffer, 10s);
    CHECK(std::string(buffer, d.size) == "two!");
}

TEST_CASE("a Unix path that does not fit sun_path is an error, never truncated", "[unix]") {
    sockaddr_un probe{};
    std::string fits(sizeof(probe.sun_path) - 1, 'p');
    std::string too_long(sizeof(probe.sun_path), 'p');
    std::error_code ec;
    Address::unix_path(fits, ec);
    CHECK_FALSE(ec);
    Address bad = Address::unix_path(too_long, ec);
    CHECK(ec == errc::address_too_long);
    CHECK(bad.family() == Family::unspecified);
    CHECK_THROWS_AS(Address::unix_path(std::string(1000, 'x')), std::system_error);
    Address::unix_path("", ec);
    CHECK(ec == errc::invalid_address);
}

#if defined(__linux__)
TEST_CASE("Linux abstract names need no file", "[unix]") {
    std::string name = "sockets-test-" + std::to_string(::getpid());
    Address address = Address::unix_abstract(name);
    CHECK(address.to_string() == "@" + name);
    Socket listener = listen_on(address);
    CHECK(listener.local_address() == address);
    Socket client = connect_to(address);
    Socket server = listener.accept();
    client.send_all(std::string("abstract"));
    std::string text(8, '\0');
    server.recv_exact(text);
    CHECK(text == "abstract");
}
#endif

TEST_CASE("socket_pair gives two connected sockets", "[unix]") {
    auto [a, b] = socket_pair();
    a.send_all(std::string("pair"));
    std::string text(4, '\0');
    b.recv_exact(text);
    CHECK(text == "pair");
    auto [x, y] = socket_pair(Type::datagram);
    (void)x.send("d1", 2);
    char buffer[4];
    CHECK(y.recv(buffer, sizeof buffer) == 2);
}

#endif

TEST_CASE("dual-stack: an IPv6 listener with v6_only(false) accepts IPv4 clients", "[ipv6]") {
    Socket listener = Socket::tcp(Family::ipv6);
    listener.set_v6_only(false);
    CHECK_FALSE(listener.v6_only());
    listener.bind(Address::any(Family::ipv6));
    listener.listen();
    Socket client = connect_to(Address::loopback(Family::ipv4, listener.local_address().port()));
    Address remote;
    Socket server = listener.accept(remote);
    CHECK(remote.family() == Family::ipv6);
    CHECK(remote.is_v4_mapped());
    CHECK(remote.unmapped() == client.local_address());
    CHECK(remote.to_string().find("[::ffff:127.0.0.1]:") == 0);

    Socket strict = Socket::tcp(Family::ipv6);
    strict.set_v6_only(true);
    CHECK(strict.v6_only());
    strict.bind(Address::any(Family::ipv6));
    strict.listen();
    // The IPv4 port of that number held too (never listening), so no other test takes it.
    Socket held = Socket::tcp(Family::ipv4);
    std::error_code ec;
    held.bind(Address::loopback(Family::ipv4, strict.local_address().port()), ec);
    if (ec) return;  // another program is on it: nothing to check here
    (void)connect_to(Address::loopback(Family::ipv4, strict.local_address().port()), ec);
    CHECK(ec == std::errc::connection_refused);
}
