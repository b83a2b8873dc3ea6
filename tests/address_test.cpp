#include <sockets/address.hpp>

#include <string>
#include <string_view>

#include "catch.hpp"

using namespace sockets;
using namespace std::string_view_literals;

TEST_CASE("IPv4 addresses parse, print and compare", "[address]") {
    Address a = Address::parse("127.0.0.1:8080");
    CHECK(a.family() == Family::ipv4);
    CHECK(a.port() == 8080);
    CHECK(a.ip() == "127.0.0.1");
    CHECK(a.to_string() == "127.0.0.1:8080");
    CHECK(a == Address::from_ip("127.0.0.1", 8080));
    CHECK(a != Address::parse("127.0.0.1:8081"));
    CHECK(a != Address::parse("127.0.0.2:8080"));
    CHECK(a.is_loopback());
    CHECK(Address::parse("0.0.0.0:0").port() == 0);
    CHECK(Address::parse("255.255.255.255:65535").port() == 65535);
}

TEST_CASE("IPv6 addresses parse in brackets and print the same way", "[address]") {
    Address a = Address::parse("[::1]:8080");
    CHECK(a.family() == Family::ipv6);
    CHECK(a.port() == 8080);
    CHECK(a.ip() == "::1");
    CHECK(a.to_string() == "[::1]:8080");
    CHECK(a.is_loopback());
    CHECK(a == Address::loopback(Family::ipv6, 8080));
    CHECK(a != Address::loopback(Family::ipv4, 8080));
    Address full = Address::parse("[2001:db8::ff00:42:8329]:443");
    CHECK(full.to_string() == "[2001:db8::ff00:42:8329]:443");
    Address scoped = Address::parse("[fe80::1%1]:80");
    CHECK(scoped.ip() == "fe80::1%1");
    CHECK(scoped != Address::parse("[fe80::1]:80"));
}

TEST_CASE("v4-mapped IPv6 addresses are recognised and can be unmapped", "[address]") {
    Address mapped = Address::parse("[::ffff:127.0.0.1]:80");
    CHECK(mapped.is_v4_mapped());
    CHECK(mapped.is_loopback());
    CHECK(mapped.unmapped() == Address::parse("127.0.0.1:80"));
    CHECK_FALSE(Address::parse("[::1]:80").is_v4_mapped());
    CHECK(Address::parse("[::1]:80").unmapped() == Address::parse("[::1]:80"));
}

TEST_CASE("with_port changes only the port", "[address]") {
    Address a = Address::parse("10.1.2.3:1").with_port(65535);
    CHECK(a.to_string() == "10.1.2.3:65535");
    CHECK_THROWS_AS(a.with_port(65536), std::system_error);
    CHECK_THROWS_AS(a.with_port(-1), std::system_error);
}

TEST_CASE("bad address text is a clear error in both forms", "[address]") {
    const char* bad[] = {"", ":", "127.0.0.1", "127.0.0.1:", "127.0.0.1:x", "1.2.3:80", "1.2.3.4.5:80",
                         "256.0.0.1:80", "::1:80", "[::1]", "[::1]80", "[::1:80", "[]:80",
                         "[::g]:80", "localhost:80", "127.0.0.1:8080x", "127.0.0.1: 80", "127.0.0.1:-1",
                         "[1.2.3.4]:80x"};
    for (const char* text : bad) {
        INFO(text);
        std::error_code ec;
        Address a = Address::parse(text, ec);
        CHECK(ec == errc::invalid_address);
        CHECK(ec == std::errc::invalid_argument);
        CHECK(a.family() == Family::unspecified);
        CHECK_THROWS_AS(Address::parse(text), std::system_error);
    }
    std::string huge(100000, '1');
    std::error_code ec;
    Address::parse(huge + ":80", ec);
    CHECK(ec == errc::invalid_address);
    std::string with_nul("127.0.0.1\0:80", 13);
    Address::parse(with_nul, ec);
    CHECK(ec == errc::invalid_address);
}

TEST_CASE("ports outside 0..65535 are refused, never wrapped", "[address]") {
    std::error_code ec;
    Address::parse("127.0.0.1:65536", ec);
    CHECK(ec == errc::port_out_of_range);
    Address::parse("127.0.0.1:99999", ec);
    CHECK(ec == errc::port_out_of_range);
    Address::parse("127.0.0.1:100000", ec);
    CHECK(ec == errc::port_out_of_range);
    Address::from_ip("127.0.0.1", 70000, ec);
    CHECK(ec == errc::port_out_of_range);
    Address::from_ip("127.0.0.1", -1, ec);
    CHECK(ec == errc::port_out_of_range);
    try {
        Address::parse("127.0.0.1:65536");
        FAIL("no exception");
    } catch (const std::system_error& e) {
        CHECK(std::string(e.what()).find("127.0.0.1:65536") != std::string::npos);
        CHECK(std::string(e.what()).find("port out of range") != std::string::npos);
    }
}

TEST_CASE("resolve returns every address for localhost", "[address][resolve]") {
    auto all = resolve("localhost", 80);
    REQUIRE_FALSE(all.empty());
    for (const auto& a : all) {
        CHECK(a.port() == 80);
        CHECK(a.is_loopback());
    }
    auto v4 = resolve("localhost", 0, Family::ipv4);
    REQUIRE_FALSE(v4.empty());
    CHECK(v4.front() == Address::parse("127.0.0.1:0"));
    CHECK(resolve("127.0.0.1", 7).front() == Address::parse("127.0.0.1:7"));
    CHECK(resolve("::1", 7, Family::ipv6).front() == Address::parse("[::1]:7"));
}

TEST_CASE("resolve reports the resolver's own error for unknown hosts", "[address][resolve]") {
    std::error_code ec;
    auto none = resolve("no-such-host.invalid", 80, ec);
    CHECK(none.empty());
    REQUIRE(ec);
    CHECK(!ec.message().empty());
    try {
        resolve("no-such-host.invalid", 80);
        FAIL("no exception");
    } catch (const std::system_error& e) {
        CHECK(std::string(e.what()).find("resolve no-such-host.invalid:80") == 0);
    }
    resolve("", 80, ec);
    CHECK(ec == errc::invalid_address);
    resolve("localhost", 65536, ec);
    CHECK(ec == errc::port_out_of_range);
    resolve("localhost", -5, ec);
    CHECK(ec == errc::port_out_of_range);
}

TEST_CASE("ports with leading zeros are their value; only the value decides the range", "[address]") {
    CHECK(Address::parse("127.0.0.1:000080").port() == 80);
    CHECK(Address::parse("127.0.0.1:0000000000065535").port() == 65535);
    CHECK(Address::parse("[::1]:00000").port() == 0);
    CHECK(Address::parse("127.0.0.1:08").port() == 8);
    std::error_code ec;
    for (const char* text : {"127.0.0.1:65536", "127.0.0.1:0065536", "127.0.0.1:99999999999999999999"}) {
        INFO(text);
        Address::parse(text, ec);
        CHECK(ec == errc::port_out_of_range);
    }
    for (const char* text : {"127.0.0.1:-1", "127.0.0.1:+80", "127.0.0.1:8 0", "127.0.0.1:", "127.0.0.1:0x50"}) {
        INFO(text);
        Address::parse(text, ec);
        CHECK(ec == errc::invalid_address);
    }
}

TEST_CASE("brackets are for IPv6 only", "[address]") {
    std::error_code ec;
    for (const char* text : {"[1.2.3.4]:80", "[127.0.0.1]:0", "[::ffff]:80x"}) {
        INFO(text);
        Address a = Address::parse(text, ec);
        CHECK(ec == errc::invalid_address);
        CHECK(a.family() == Family::unspecified);
    }
    CHECK(Address::parse("[::ffff:1.2.3.4]:80").family() == Family::ipv6);
}

#if SOCKETS_HAS_UNIX_DOMAIN
namespace {
Address unnamed_unix() {
    sockaddr_un un{};
    un.sun_family = AF_UNIX;
    return Address(reinterpret_cast<const sockaddr*>(&un), static_cast<detail::socklen>(offsetof(sockaddr_un, sun_path)));
}
}  // namespace

TEST_CASE("Unix-domain addresses compare by name and kind, not by display text", "[address][unix]") {
    Address unnamed = unnamed_unix();
    CHECK(unnamed.family() == Family::unix_domain);
    CHECK(unnamed == unnamed_unix());
    CHECK(unnamed != Address::unix_path("(unnamed)"));
    CHECK(Address::unix_path("/tmp/a") == Address::unix_path("/tmp/a"));
    CHECK(Address::unix_path("/tmp/a") != Address::unix_path("/tmp/b"));
#if defined(__linux__)
    CHECK(Address::unix_abstract("srv") == Address::unix_abstract("srv"));
    CHECK(Address::unix_abstract("srv") != Address::unix_path("@srv"));
    CHECK(Address::unix_path("@srv") != Address::unix_abstract("srv"));
    CHECK(Address::unix_abstract("") != unnamed);
    CHECK(Address::unix_abstract("a\0b"sv) != Address::unix_abstract("a"));
#endif
}

TEST_CASE("a Unix path with an embedded NUL is refused, never truncated", "[address][unix]") {
    std::error_code ec;
    Address a = Address::unix_path(std::string_view("/tmp/a\0b", 8), ec);
    CHECK(ec == errc::invalid_address);
    CHECK(a.family() == Family::unspecified);
    CHECK_THROWS_AS(Address::unix_path(std::string_view("/tmp/a\0b", 8)), std::system_error);
}
#endif
