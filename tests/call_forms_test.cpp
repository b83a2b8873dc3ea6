// The call-form rule (docs/guide.md): every transfer call takes (pointer, size) or a byte
// container, with or without a Timeout, with or without std::error_code& last. This file
// spells out every form; it fails by not compiling, and each form is also run over loopback.
#include <sockets/sockets.hpp>

#include <array>
#include <chrono>
#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

#include "catch.hpp"
#include "support.hpp"

using namespace sockets;
using namespace std::chrono_literals;

TEST_CASE("every send/recv form compiles and moves the bytes", "[forms]") {
    auto p = test::tcp_pair();
    std::error_code ec;
    const std::string str = "abc";
    const std::string_view view = "abc";
    const std::vector<unsigned char> bytes = {'a', 'b', 'c'};
    const std::array<std::byte, 3> array = {std::byte{'a'}, std::byte{'b'}, std::byte{'c'}};
    std::string expected;  // what the sends put on the stream, in order
    auto sent = [&](std::size_t n) { expected += std::string("abc").substr(0, n); };

    sent(p.client.send_all("abc"));  // a literal: without its NUL
    sent(p.client.send_all("abc", 1s));
    sent(p.client.send_all("abc", ec));
    sent(p.client.send_all("abc", 1s, ec));
    sent(p.client.send_all(str));
    sent(p.client.send_all(str, 1s));
    sent(p.client.send_all(str, ec));
    sent(p.client.send_all(str, 1s, ec));
    sent(p.client.send_all(view, 1s, ec));
    sent(p.client.send_all(bytes, 1s, ec));
    sent(p.client.send_all(array, 1s, ec));
    sent(p.client.send_all(str.data(), str.size()));
    sent(p.client.send_all(str.data(), str.size(), ec));
    sent(p.client.send_all(str.data(), str.size(), 1s));
    sent(p.client.send_all(str.data(), str.size(), 1s, ec));
    // One-call forms may move fewer bytes than asked (the HOWTO's first lesson).
    sent(p.client.send("abc"));
    sent(p.client.send(str, ec));
    sent(p.client.send(str, 1s));
    sent(p.client.send(str, 1s, ec));
    sent(p.client.send(str.data(), str.size(), 1s, ec));
    sent(p.client.try_send(str).value_or(0));
    sent(p.client.try_send(str, ec).value_or(0));
    CHECK_FALSE(ec);
    REQUIRE(expected.size() >= 15 * 3);

    std::string s(3, '\0');
    std::vector<char> v(3);
    std::array<unsigned char, 3> a{};
    std::string got;
    auto take = [&](const void* p3, std::size_t n) { got.append(static_cast<const char*>(p3), n); };
    take(s.data(), p.server.recv_exact(s));
    take(s.data(), p.server.recv_exact(s, ec));
    take(s.data(), p.server.recv_exact(s, 1s));
    take(s.data(), p.server.recv_exact(s, 1s, ec));
    take(v.data(), p.server.recv_exact(v, 1s, ec));
    take(a.data(), p.server.recv_exact(a, 1s, ec));
    take(s.data(), p.server.recv_exact(&s[0], 3, 1s, ec));
    std::string rest(expected.size() - got.size(), '\0');
    take(rest.data(), p.server.recv_exact(rest, 1s));
    CHECK(got == expected);

    p.client.send_all("xyz1234");
    CHECK(p.server.recv(s) >= 1);  // up to 3 of the 7; the rest is read by whichever form comes next
    (void)p.server.recv(v, ec);
    (void)p.server.recv(v, 1ms);
    (void)p.server.recv(v, 1ms, ec);
    (void)p.server.try_recv(v);
    (void)p.server.try_recv(v, ec);
}

TEST_CASE("every datagram form compiles and moves the bytes", "[forms][udp]") {
    Socket a = Socket::udp(), b = Socket::udp();
    b.bind(Address::loopback(Family::ipv4));
    Address to = b.local_address();
    std::error_code ec;
    std::string text = "ping";
    std::size_t sent = a.send_to(to, "ping") + a.send_to(to, text, ec) + a.send_to(to, text, 1s) +
                       a.send_to(to, text, 1s, ec) + a.send_to(to, text.data(), text.size(), 1s, ec);
    CHECK(sent == 20);
    std::vector<char> buffer(16);
    char raw[16];
    CHECK(b.recv_from(buffer).size == 4);
    CHECK(b.recv_from(buffer, ec).size == 4);
    CHECK(b.recv_from(buffer, 1s).size == 4);
    CHECK(b.recv_from(buffer, 1s, ec).size == 4);
    CHECK(b.recv_from(raw, sizeof raw, 1s, ec).size == 4);
    CHECK_FALSE(ec);
}

TEST_CASE("options: typed set_option/get_option for any option struct, listen_on options", "[forms][options]") {
    auto p = test::tcp_pair();
    ::linger value{};
    value.l_onoff = 1;
    value.l_linger = 7;
    p.client.set_option(SOL_SOCKET, SO_LINGER, value);
    ::linger back = p.client.get_option<::linger>(SOL_SOCKET, SO_LINGER);
    CHECK(back.l_onoff != 0);
    CHECK(back.l_linger == 7);
    p.client.set_option(IPPROTO_TCP, TCP_NODELAY, true);  // bool goes in as the int the OS wants
    CHECK(p.client.get_option(IPPROTO_TCP, TCP_NODELAY) != 0);
    p.client.set_keep_alive(std::chrono::minutes(1), 5s, 3);

    std::error_code ec;
    ListenOptions options;
    options.dual_stack = true;
    options.backlog = 8;
    Socket dual = listen_on(Address::any(Family::ipv6, 0), options, ec);
    if (ec) {
        WARN("no IPv6 here: " << ec.message());
    } else {
        CHECK_FALSE(dual.v6_only());
        Socket v4 = connect_to(Address::loopback(Family::ipv4, dual.local_address().port()), 10s);
        Address peer;
        Socket accepted = dual.accept(peer, 10s);
        CHECK(peer.is_v4_mapped());
    }
#if defined(__linux__)
    ListenOptions shared;
    shared.reuse_port = true;
    Socket first = listen_on(Address::loopback(Family::ipv4, 0), shared);
    Socket second = listen_on(first.local_address(), shared);  // SO_REUSEPORT: both listen
    CHECK(second.local_address() == first.local_address());
#endif
}

TEST_CASE("messages name the address, also after the peer reset", "[forms][errors]") {
    auto p = test::tcp_pair();
    p.server.set_linger(std::chrono::seconds(0));
    p.server.close();  // reset
    std::string big(1 << 20, 'x');
    std::string what;
    for (int i = 0; i < 50 && what.empty(); ++i) {  // the reset arrives asynchronously
        try {
            p.client.send_all(big, 10s);
        } catch (const TransferError& e) {
            what = e.what();
        }
    }
    INFO(what);
    CHECK(what.find("send_all") == 0);
    CHECK(what.find("127.0.0.1:") != std::string::npos);

    Socket refusing = test::refusing_port();
    int port = refusing.local_address().port();
    try {
        (void)connect_to("127.0.0.1", port);
        FAIL("connected to a closed port");
    } catch (const std::system_error& e) {
        std::string text = e.what();
        INFO(text);
        CHECK(text.find("127.0.0.1:" + std::to_string(port)) != std::string::npos);
        CHECK(text.find("last tried") == std::string::npos);  // the numeric host is not repeated
    }
}

// A writable char array has no string length: sending it must say how many bytes.
static_assert(!std::is_constructible_v<ConstBuffer, char (&)[8]>, "send_all(buffer) of a char array must not compile");
static_assert(std::is_constructible_v<ConstBuffer, const char (&)[4]>, "string literals are buffers");
static_assert(std::is_constructible_v<MutableBuffer, char (&)[8]>, "recv(buffer) into a char array");
static_assert(!std::is_constructible_v<ConstBuffer, const char*>, "a bare pointer has no size");

TEST_CASE("arrays and the gather form follow the rule too", "[forms]") {
    auto p = test::tcp_pair();
    const char table[] = {'a', 'b'};  // no terminator: both bytes
    CHECK(ConstBuffer(table).size == 2);
    CHECK(ConstBuffer("ab").size == 2);  // a literal: without its NUL
    std::error_code ec;
    CHECK(p.client.send_all({ConstBuffer("he"), ConstBuffer("llo")}, 1s) == 5);
    CHECK(p.client.send_all({ConstBuffer("!"), ConstBuffer(table)}, 1s, ec) == 3);
    char in[8];
    CHECK(p.server.recv_exact(MutableBuffer(in, 8), 1s) == 8);
    CHECK(std::string(in, 8) == "hello!ab");
    p.client.send_all("xy");
    char two[2];
    CHECK(p.server.recv_exact(two) == 2);  // a char array: its whole size
}

// The [[nodiscard]] rule (tests/nodiscard_rule.cmake): where success means "all of it", the
// count is for the error path only, so `call(..., ec); if (ec)` compiles without a warning
// (this file is built with -Werror=unused-result). A count that may be short stays marked.
TEST_CASE("the nodiscard rule: call, then check ec, where success means all of it", "[forms][nodiscard]") {
    auto p = test::tcp_pair();
    std::error_code ec;
    const std::string four = "four";
    p.client.send_all(four, ec);
    REQUIRE_FALSE(ec);
    p.client.send_all(four.data(), four.size(), 1s, ec);
    REQUIRE_FALSE(ec);
    p.client.send_all({ConstBuffer("ab"), ConstBuffer("cd")}, 1s, ec);
    REQUIRE_FALSE(ec);
    const ConstBuffer pieces[] = {ConstBuffer("ab"), ConstBuffer("cd")};
    p.client.send_all_buffers(pieces, 2, ec);
    REQUIRE_FALSE(ec);
    send_message(p.client, "m", ec);
    REQUIRE_FALSE(ec);
    send_line(p.client, "line", 1s, ec);
    REQUIRE_FALSE(ec);
    std::string got(16, '\0');
    p.server.recv_exact(got, 10s, ec);
    REQUIRE_FALSE(ec);
    CHECK(got == "fourfourabcdabcd");
    StreamReader reader(p.server);
    char frame[5];
    reader.read_exact(frame, sizeof frame, 10s, ec);  // the prefix and "m"
    REQUIRE_FALSE(ec);
    CHECK(reader.read_line(10s) == "line");

    Socket a = Socket::udp(), b = Socket::udp();
    a.bind(Address::loopback(Family::ipv4));
    const Address to = a.local_address();
    b.send_to(to, "x", ec);
    REQUIRE_FALSE(ec);
    send_many(b, {{"y", &to}}, ec);
    REQUIRE_FALSE(ec);
    CHECK(a.recv_some(8, 10s) == "x");
    CHECK(a.recv_some(8, 10s) == "y");
}
