#include <sockets/address.hpp>

#include <cstring>
#include <string>
#include <string_view>

#include "catch.hpp"

#if defined(__linux__)
#include <net/if.h>
#include <sched.h>
#include <sys/ioctl.h>
#include <sys/wait.h>
#endif

#if defined(__linux__) && defined(__GLIBC__) && !defined(__SANITIZE_ADDRESS__) && !defined(__has_feature)
#define SOCKETS_TEST_GAI_LEAKS 1
#elif defined(__linux__) && defined(__GLIBC__) && defined(__has_feature)
#if !__has_feature(address_sanitizer) && !__has_feature(memory_sanitizer) && !__has_feature(thread_sanitizer)
#define SOCKETS_TEST_GAI_LEAKS 1
#endif
#endif

#if SOCKETS_TEST_GAI_LEAKS
// getaddrinfo and freeaddrinfo are interposed to count the lists still held, and operator new is
// replaced so that the first allocation after a successful getaddrinfo can be made to fail: the
// moment resolve() copies the list into its vector.
#include <dlfcn.h>
#include <cstdlib>
#include <new>

namespace {
int gai_lists_held = 0;
bool fail_after_getaddrinfo = false;
bool fail_next_new = false;
}  // namespace

extern "C" int getaddrinfo(const char* node, const char* service, const addrinfo* hints, addrinfo** res) {
    using Fn = int (*)(const char*, const char*, const addrinfo*, addrinfo**);
    static auto real = reinterpret_cast<Fn>(::dlsym(RTLD_NEXT, "getaddrinfo"));
    int rc = real(node, service, hints, res);
    if (rc == 0) {
        ++gai_lists_held;
        fail_next_new = fail_after_getaddrinfo;
    }
    return rc;
}

extern "C" void freeaddrinfo(addrinfo* list) {
    using Fn = void (*)(addrinfo*);
    static auto real = reinterpret_cast<Fn>(::dlsym(RTLD_NEXT, "freeaddrinfo"));
    if (list) --gai_lists_held;
    real(list);
}

void* operator new(std::size_t size) {
    if (fail_next_new) {
        fail_next_new = false;
        throw std::bad_alloc();
    }
    if (void* p = std::malloc(size ? size : 1)) return p;
    throw std::bad_alloc();
}
void operator delete(void* p) noexcept { std::free(p); }
void operator delete(void* p, std::size_t) noexcept { std::free(p); }
#endif

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

TEST_CASE("resolver errors compare equal to portable sockets::errc conditions", "[address][resolve]") {
    std::error_code ec;
    auto none = resolve("nonexistent.invalid", 80, ec);  // .invalid never resolves (RFC 6761)
    CHECK(none.empty());
    REQUIRE(ec);
    INFO(ec.category().name() << " " << ec.value() << ": " << ec.message());
    CHECK(ec.category() == resolve_category());
    CHECK(ec == errc::host_not_found);
    CHECK(errc::host_not_found == ec);
    CHECK_FALSE(ec != errc::host_not_found);
    CHECK(ec != errc::try_again);
    CHECK(ec != errc::invalid_address);
#if defined(_WIN32)
    CHECK(std::error_code(WSAHOST_NOT_FOUND, resolve_category()) == errc::host_not_found);
    CHECK(detail::os_error(WSAHOST_NOT_FOUND) == errc::host_not_found);
    CHECK(std::error_code(WSATRY_AGAIN, resolve_category()) == errc::try_again);
    CHECK(detail::os_error(WSATRY_AGAIN) == errc::try_again);
    CHECK(std::error_code(WSANO_RECOVERY, resolve_category()) == errc::resolver_failure);
#else
    CHECK(std::error_code(EAI_NONAME, resolve_category()) == errc::host_not_found);
    CHECK(std::error_code(EAI_AGAIN, resolve_category()) == errc::try_again);
    CHECK(std::error_code(EAI_FAIL, resolve_category()) == errc::resolver_failure);
    CHECK(std::error_code(EAI_AGAIN, resolve_category()) != errc::host_not_found);
#if defined(EAI_ADDRFAMILY)
    CHECK(std::error_code(EAI_ADDRFAMILY, resolve_category()) == errc::no_address_for_family);
#endif
    CHECK(detail::os_error(ENOENT) != errc::host_not_found);  // an errno with the same number is not it
    CHECK(std::error_code(-EAI_NONAME, std::generic_category()) != errc::host_not_found);
#endif
    CHECK(std::error_code(errc::host_not_found) == errc::host_not_found);
    CHECK(std::error_code(errc::invalid_address) == errc::invalid_address);
    CHECK(std::error_code(errc::invalid_address) != errc::host_not_found);
}

TEST_CASE("resolve works on a machine with only loopback (no AI_ADDRCONFIG trap)", "[address][resolve]") {
    auto all = resolve("localhost", 0);
    REQUIRE_FALSE(all.empty());
    for (const auto& a : all) CHECK(a.is_loopback());
#if defined(__linux__)
    // A fresh network namespace has nothing but lo: the machine this library must keep working
    // on offline. With AI_ADDRCONFIG, glibc finds no IPv4 "configured" and refuses localhost.
    pid_t child = ::fork();
    REQUIRE(child >= 0);
    if (child == 0) {
        if (::unshare(CLONE_NEWNET) != 0) ::_exit(77);
        int fd = ::socket(AF_INET, SOCK_DGRAM, 0);
        ifreq request{};
        std::strcpy(request.ifr_name, "lo");
        request.ifr_flags = IFF_UP;
        if (fd < 0 || ::ioctl(fd, SIOCSIFFLAGS, &request) != 0) ::_exit(78);
        std::error_code ec;
        auto v4 = resolve("localhost", 0, Family::ipv4, Type::stream, ec);
        ::_exit(!ec && !v4.empty() && v4.front() == Address::parse("127.0.0.1:0") ? 0 : 1);
    }
    int status = 0;
    REQUIRE(::waitpid(child, &status, 0) == child);
    REQUIRE(WIFEXITED(status));
    if (WEXITSTATUS(status) >= 77) {
        WARN("no private network namespace here (" << WEXITSTATUS(status) << "): loopback-only case not run");
    } else {
        CHECK(WEXITSTATUS(status) == 0);
    }
#endif
}

TEST_CASE("resolve_host_port splits and resolves host:port text", "[address][resolve]") {
    auto local = resolve_host_port("localhost:8080");
    REQUIRE_FALSE(local.empty());
    for (const auto& a : local) {
        CHECK(a.is_loopback());
        CHECK(a.port() == 8080);
    }
    CHECK(resolve_host_port("127.0.0.1:7").front() == Address::parse("127.0.0.1:7"));
    CHECK(resolve_host_port("[::1]:7").front() == Address::parse("[::1]:7"));
    CHECK(resolve_host_port("localhost:0080", Family::ipv4).front() == Address::parse("127.0.0.1:80"));

    std::error_code ec;
    for (const char* text : {"localhost", "localhost:", "[::1]", "[::1]:", "::1"}) {
        INFO(text);
        CHECK(resolve_host_port(text, ec).empty());
        CHECK(ec == errc::missing_port);
        CHECK(ec == std::errc::invalid_argument);
    }
    for (const char* text : {"localhost:http", "localhost:-1", "localhost:8 0", "localhost:+80"}) {
        INFO(text);
        CHECK(resolve_host_port(text, ec).empty());
        CHECK(ec == errc::invalid_port);
    }
    CHECK(resolve_host_port("localhost:65536", ec).empty());
    CHECK(ec == errc::port_out_of_range);
    for (const char* text : {":80", "[]:80", "[::1:80", "[::1]x:80", "[1.2.3.4]:80", "a:b:80"}) {
        INFO(text);
        CHECK(resolve_host_port(text, ec).empty());
        CHECK(ec == errc::invalid_address);
    }
    CHECK(resolve_host_port("nonexistent.invalid:80", ec).empty());
    CHECK(ec == errc::host_not_found);
    try {
        resolve_host_port("localhost:99999");
        FAIL("no exception");
    } catch (const std::system_error& e) {
        CHECK(std::string(e.what()).find("localhost:99999") != std::string::npos);
        CHECK(std::string(e.what()).find("port out of range") != std::string::npos);
    }
    try {
        resolve_host_port("localhost");
        FAIL("no exception");
    } catch (const std::system_error& e) {
        CHECK(std::string(e.what()).find("\"localhost\"") != std::string::npos);
        CHECK(std::string(e.what()).find("no port") != std::string::npos);
    }
}

#if SOCKETS_TEST_GAI_LEAKS
TEST_CASE("resolve frees the getaddrinfo list when copying it throws", "[address][resolve]") {
    gai_lists_held = 0;
    fail_after_getaddrinfo = true;
    std::error_code ec;
    CHECK_THROWS_AS(resolve("127.0.0.1", 80, Family::ipv4, Type::stream, ec), std::bad_alloc);
    fail_after_getaddrinfo = false;
    fail_next_new = false;
    CHECK(gai_lists_held == 0);
    CHECK_FALSE(resolve("127.0.0.1", 80, ec).empty());
    CHECK(gai_lists_held == 0);
}
#endif

#if defined(__APPLE__) || defined(__FreeBSD__) || defined(__NetBSD__) || defined(__OpenBSD__) || \
    defined(__DragonFly__)
// Compiled by scripts/test-platforms for macOS; runs wherever the suite runs on a BSD.
TEST_CASE("addresses built by hand carry the BSD length field", "[address][bsd]") {
    auto length = [](const Address& a) { return static_cast<std::size_t>(a.data()->sa_len); };
    CHECK(length(Address::from_ip("239.1.2.3", 5000)) == sizeof(sockaddr_in));
    CHECK(length(Address::from_ip("::ffff:127.0.0.1", 1).unmapped()) == sizeof(sockaddr_in));
    CHECK(length(Address::from_ip("::1", 1)) == sizeof(sockaddr_in6));
    Address path = Address::unix_path("/tmp/x");
    CHECK(length(path) == static_cast<std::size_t>(path.size()));
}
#endif

TEST_CASE("a name or a bare IPv6 address in parse text is a clear error naming the text", "[address][text]") {
    std::error_code ec;
    Address a = Address::parse("localhost:8080", ec);
    CHECK(ec == errc::not_numeric);
    CHECK(ec == errc::invalid_address);  // still an invalid address for code written before
    CHECK(ec == std::errc::invalid_argument);
    CHECK(a.family() == Family::unspecified);
    try {
        (void)Address::parse("example.com:443");
        FAIL("no exception");
    } catch (const std::system_error& e) {
        std::string what = e.what();
        CHECK(what.find("\"example.com:443\"") != std::string::npos);
        CHECK(what.find("resolve_host_port") != std::string::npos);
        CHECK(what.find("connect_to") != std::string::npos);
    }
    for (const char* text : {"::1:80", "fe80::1:443", "::ffff:1.2.3.4:80"}) {
        INFO(text);
        (void)Address::parse(text, ec);
        CHECK(ec == errc::ipv6_needs_brackets);
        CHECK(ec == errc::invalid_address);
        try {
            (void)Address::parse(text);
            FAIL("no exception");
        } catch (const std::system_error& e) {
            CHECK(std::string(e.what()).find("[v6]:port") != std::string::npos);
            CHECK(std::string(e.what()).find(text) != std::string::npos);
        }
    }
    // Numbers that are not an address stay invalid_address, not "a name".
    for (const char* text : {"1.2.3:80", "256.0.0.1:80", "1.2.3.4.5:80"}) {
        INFO(text);
        (void)Address::parse(text, ec);
        CHECK(ec == errc::invalid_address);
        CHECK(ec != errc::not_numeric);
    }
    CHECK(Address::parse("[::1]:80").family() == Family::ipv6);
    // resolve_host_port: the same refusal where a port could be read off the end ("::1" alone
    // has none to read: missing_port, as before).
    CHECK(resolve_host_port("::1:80", ec).empty());
    CHECK(ec == errc::ipv6_needs_brackets);
    CHECK(resolve_host_port("::1", ec).empty());
    CHECK(ec == errc::missing_port);
    // The hint holds for any port, also those past ffff that no IPv6 group could be (every
    // ephemeral port), in parse and in resolve_host_port alike (listen_on: socket_test); IPv4 with two ports is no
    // IPv6 and gets no such hint.
    for (const char* text : {"::1:43407", "::1:65535", "::ffff:127.0.0.1:80"}) {
        INFO(text);
        (void)Address::parse(text, ec);
        CHECK(ec == errc::ipv6_needs_brackets);
        CHECK(resolve_host_port(text, ec).empty());
        CHECK(ec == errc::ipv6_needs_brackets);
    }
    (void)Address::parse("127.0.0.1:0:0", ec);
    CHECK(ec == errc::invalid_address);
    CHECK(ec != errc::ipv6_needs_brackets);
}
