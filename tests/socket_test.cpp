#include <sockets/sockets.hpp>

#include <array>
#include <cstring>
#include <functional>
#include <future>
#include <string>
#include <string_view>
#include <vector>

#include "catch.hpp"
#include "support.hpp"

using namespace sockets;

// The handle plus one byte of kind (stream or message socket), padded: no heap, no indirection.
static_assert(sizeof(Socket) <= 2 * sizeof(native_handle_type), "a Socket is its handle and a kind byte");
static_assert(!std::is_copy_constructible_v<Socket> && std::is_nothrow_move_constructible_v<Socket>);


TEST_CASE("the README contract: listen, connect, accept, send_all, recv_exact, half-close", "[socket]") {
    Socket listener = listen_on(Address::parse("127.0.0.1:0"));
    Address where = listener.local_address();
    CHECK(where.port() != 0);
    CHECK(where.to_string() == "127.0.0.1:" + std::to_string(where.port()));
    Socket client = connect_to(where);
    Address remote;
    Socket peer = listener.accept(remote);
    CHECK(remote == client.local_address());
    CHECK(peer.peer_address() == client.local_address());
    CHECK(client.peer_address() == where);

    const char data[] = "hello, socket";
    CHECK(client.send_all(data, sizeof data) == sizeof data);
    char buffer[sizeof data];
    CHECK(peer.recv_exact(buffer, sizeof buffer) == sizeof data);
    CHECK(std::memcmp(buffer, data, sizeof data) == 0);

    client.shutdown(Shutdown::write);
    CHECK(peer.recv(buffer, sizeof buffer) == 0);  // orderly close seen as 0
    // Half-close: the other direction still works.
    peer.send_all(std::string_view("still here"));
    std::string reply(10, '\0');
    client.recv_exact(reply);
    CHECK(reply == "still here");
#if !defined(_WIN32)
    CHECK(listener.reuse_address());  // on Windows it would let another process steal the port
#endif
}

// Found by the soak under wine: there accept reported a client reset while queued as
// WSAENOTCONN, and the servers paused accepting (taking it for a lack of descriptors) once per
// reset client. accept skips such a connection or returns it (Linux does; its recv then sees
// the reset), never fails on it.
TEST_CASE("accept never fails on clients reset while queued: the next client gets through", "[socket]") {
    auto listener = listen_on(Address::loopback(Family::ipv4, 0));
    for (int i = 0; i < 8; ++i) {
        Socket doomed = connect_to(listener.local_address(), std::chrono::seconds(10));
        doomed.set_linger(std::chrono::seconds(0));  // close sends a reset
    }
    Socket good = connect_to(listener.local_address(), std::chrono::seconds(10));
    const Address want = good.local_address();
    Address who;
    for (int accepted = 0; who != want; ++accepted) {
        REQUIRE(accepted <= 8);
        std::error_code ec;
        Socket s = listener.accept(who, std::chrono::seconds(10), ec);
        INFO(ec.message());
        REQUIRE_FALSE(ec);
    }
}

TEST_CASE("IPv4 and IPv6 loopback connect and accept", "[socket]") {
    for (Family family : {Family::ipv4, Family::ipv6}) {
        auto p = test::tcp_pair(family);
        CHECK(p.client.local_address().family() == family);
        CHECK(p.server.peer_address() == p.client.local_address());
        p.client.send_all(std::string("x"));
        char c = 0;
        p.server.recv_exact(&c, 1);
        CHECK(c == 'x');
    }
}

TEST_CASE("connect_to a host name tries each resolved address", "[socket][resolve]") {
    Socket listener = listen_on(Address::parse("127.0.0.1:0"));
    // localhost may resolve to ::1 first, where nobody listens: the next address must be tried.
    Socket client = connect_to("localhost", listener.local_address().port());
    Socket peer = listener.accept();
    CHECK(client.peer_address() == listener.local_address());
}

TEST_CASE("64 MiB through send_all and recv_exact between threads, byte for byte", "[socket][bulk]") {
    auto p = test::tcp_pair();
    const std::size_t total = 64u << 20;
    auto data = test::pattern(total, 7);
    auto sender = std::async(std::launch::async, [&] { return p.client.send_all(data.data(), data.size()); });
    std::vector<unsigned char> received(total);
    CHECK(p.server.recv_exact(received.data(), received.size()) == total);
    CHECK(sender.get() == total);
    CHECK((received == data));  // parenthesised: a mismatch must not print megabytes
}

TEST_CASE("many small transfers arrive intact and in order", "[socket]") {
    auto p = test::tcp_pair();
    p.client.set_no_delay(true);
    auto data = test::pattern(100000, 3);
    auto sender = std::async(std::launch::async, [&] {
        std::size_t offset = 0, size = 1;
        while (offset < data.size()) {
            std::size_t n = std::min(size, data.size() - offset);
            p.client.send_all(data.data() + offset, n);
            offset += n;
            size = size % 97 + 1;
        }
        p.client.shutdown(Shutdown::write);
    });
    std::vector<unsigned char> received(data.size());
    std::size_t offset = 0, size = 1;
    while (offset < received.size()) {
        std::size_t n = std::min(size, received.size() - offset);
        p.server.recv_exact(received.data() + offset, n);
        offset += n;
        size = size % 89 + 1;
    }
    sender.get();
    CHECK((received == data));  // parenthesised: a mismatch must not print megabytes
    char extra;
    CHECK(p.server.recv(&extra, 1) == 0);
}

TEST_CASE("send_all and recv_exact take byte containers and string views", "[socket]") {
    auto p = test::tcp_pair();
    std::string text = "abc";
    std::vector<std::byte> bytes{std::byte{1}, std::byte{2}};
    std::vector<unsigned char> uchars{3, 4};
    std::array<char, 2> chars{'y', 'z'};
    CHECK(p.client.send_all(text) == 3);
    CHECK(p.client.send_all(std::string_view("de")) == 2);
    CHECK(p.client.send_all("fg") == 2);  // a literal sends its characters, not its NUL
    CHECK(p.client.send_all(bytes) == 2);
    CHECK(p.client.send_all(uchars) == 2);
    CHECK(p.client.send_all(chars) == 2);
    std::string s(7, '\0');
    p.server.recv_exact(s);
    CHECK(s == "abcdefg");
    std::vector<std::byte> b(2);
    p.server.recv_exact(b);
    CHECK(b == bytes);
    std::array<unsigned char, 2> u{};
    p.server.recv_exact(u);
    CHECK(u[0] == 3);
    CHECK(u[1] == 4);
    std::vector<char> c(2);
    p.server.recv_exact(c);
    CHECK(c[1] == 'z');
}

TEST_CASE("peer closing mid-recv_exact reports end_of_stream and the bytes that arrived", "[socket]") {
    SECTION("error_code form") {
        auto p = test::tcp_pair();
        p.client.send_all(std::string("12345"));
        p.client.close();
        char buffer[10] = {};
        std::error_code ec;
        CHECK(p.server.recv_exact(buffer, sizeof buffer, ec) == 5);
        CHECK(ec == errc::end_of_stream);
        CHECK(std::string(buffer, 5) == "12345");
    }
    SECTION("throwing form") {
        auto p = test::tcp_pair();
        p.client.send_all(std::string("123"));
        p.client.shutdown(Shutdown::write);
        char buffer[10] = {};
        try {
            p.server.recv_exact(buffer, sizeof buffer);
            FAIL("no exception");
        } catch (const TransferError& e) {
            CHECK(e.code() == errc::end_of_stream);
            CHECK(e.bytes_transferred() == 3);
            CHECK(std::string(e.what()).find("recv_exact with 127.0.0.1:") == 0);
            CHECK(std::string(buffer, 3) == "123");
        }
    }
}

TEST_CASE("connect refused is an error naming the address, in both forms", "[socket]") {
    test::RefusingLocalhost refusing = test::refusing_localhost_port();
    Address nobody = refusing.v4.local_address();
    std::error_code ec;
    Socket s = connect_to(nobody, ec);
    CHECK(ec == std::errc::connection_refused);
    CHECK_FALSE(s.is_open());
    try {
        (void)connect_to(nobody);
        FAIL("no exception");
    } catch (const std::system_error& e) {
        CHECK(e.code() == std::errc::connection_refused);
        CHECK(std::string(e.what()).find("connect " + nobody.to_string()) == 0);
    }
    Socket step = Socket::tcp();
    step.connect(nobody, ec);
    CHECK(ec == std::errc::connection_refused);
    CHECK_THROWS_AS(connect_to("localhost", nobody.port()), std::system_error);
}

TEST_CASE("bind to an address in use fails with the address in the message", "[socket]") {
    Socket first = listen_on(Address::parse("127.0.0.1:0"));
    Socket second = Socket::tcp();
    std::error_code ec;
    second.bind(first.local_address(), ec);
    CHECK(ec == std::errc::address_in_use);
    try {
        second.bind(first.local_address());
        FAIL("no exception");
    } catch (const std::system_error& e) {
        CHECK(std::string(e.what()).find("bind " + first.local_address().to_string()) == 0);
    }
}

TEST_CASE("writing to a peer that has gone is an error, never SIGPIPE", "[socket]") {
    auto p = test::tcp_pair();
    p.server.close();
    std::vector<unsigned char> data(1 << 20);
    std::error_code ec;
    // The first write may be accepted by the kernel; the reset makes a later one fail.
    for (int i = 0; i < 100 && !ec; ++i) (void)p.client.send_all(data.data(), data.size(), std::chrono::seconds(10), ec);
    INFO(ec.message());
    CHECK((ec == std::errc::broken_pipe || ec == std::errc::connection_reset || ec == std::errc::connection_aborted));
}

TEST_CASE("operations on closed and moved-from sockets fail with not_open", "[socket]") {
    Socket never;
    CHECK_FALSE(never.is_open());
    CHECK_FALSE(never);
    std::error_code ec;
    char c = 0;
    (void)never.send_all(&c, 1, ec);
    CHECK(ec == errc::not_open);
    (void)never.recv_exact(&c, 1, ec);
    CHECK(ec == errc::not_open);
    (void)never.send_all(&c, 0, ec);
    CHECK(ec == errc::not_open);
    never.connect(Address::parse("127.0.0.1:1"), ec);
    CHECK(ec == errc::not_open);
    (void)never.accept(ec);
    CHECK(ec == errc::not_open);
    never.local_address(ec);
    CHECK(ec == errc::not_open);
    CHECK_THROWS_AS(never.recv(&c, 1), std::system_error);
    CHECK_THROWS_AS(never.shutdown(Shutdown::both), std::system_error);

    auto p = test::tcp_pair();
    Socket moved = std::move(p.client);
    CHECK_FALSE(p.client.is_open());
    CHECK(moved.is_open());
    (void)p.client.send_all(&c, 1, ec);
    CHECK(ec == errc::not_open);

    moved.close();
    CHECK_FALSE(moved.is_open());
    moved.close();  // closing twice is harmless
    (void)moved.send_all(&c, 1, ec);
    CHECK(ec == errc::not_open);
}

TEST_CASE("moves transfer ownership: no double close, no descriptor leak", "[socket][leak]") {
    int before = test::open_descriptors();
    {
        auto p = test::tcp_pair();
        Socket a = std::move(p.client);
        Socket b;
        b = std::move(a);
        Socket& same = b;
        b = std::move(same);  // self-move keeps the socket
        CHECK(b.is_open());
        Socket c = std::move(p.server);
        c = std::move(b);  // the old server socket is closed by the assignment
        CHECK(c.is_open());
        native_handle_type raw = c.release();
        CHECK_FALSE(c.is_open());
        Socket adopted(raw);
        CHECK(adopted.native_handle() == raw);
    }
    for (int i = 0; i < 200; ++i) {
        auto p = test::tcp_pair();
        std::error_code ec;
        Socket refusing = test::refusing_port();
        (void)connect_to(refusing.local_address(), ec);
        CHECK(ec);
    }
    CHECK(test::open_descriptors() == before);
}

TEST_CASE("typed options set and read back", "[socket][options]") {
    auto p = test::tcp_pair();
    p.client.set_no_delay(true);
    CHECK(p.client.no_delay());
    p.client.set_no_delay(false);
    CHECK_FALSE(p.client.no_delay());
    p.client.set_keep_alive(true);
    CHECK(p.client.keep_alive());
    p.client.set_keep_alive(false);
    CHECK_FALSE(p.client.keep_alive());
    p.client.set_send_buffer_size(1 << 16);
    CHECK(p.client.send_buffer_size() >= (1 << 16));
    p.client.set_receive_buffer_size(1 << 16);
    CHECK(p.client.receive_buffer_size() >= (1 << 16));
    Socket fresh = Socket::tcp();
    fresh.set_reuse_address(true);
    CHECK(fresh.reuse_address());
    Socket never;
    std::error_code ec;
    never.set_no_delay(true, ec);
    CHECK(ec == errc::not_open);
}

#if !defined(_WIN32)
TEST_CASE("sockets are created close-on-exec, accepted ones and socket_pair's too", "[socket]") {
    auto p = test::tcp_pair();
    for (const Socket* s : {&p.listener, &p.client, &p.server})
        CHECK((::fcntl(s->native_handle(), F_GETFD) & FD_CLOEXEC) != 0);
    for (Type type : {Type::stream, Type::datagram}) {
        auto pair = socket_pair(type);
        CHECK((::fcntl(pair.first.native_handle(), F_GETFD) & FD_CLOEXEC) != 0);
        CHECK((::fcntl(pair.second.native_handle(), F_GETFD) & FD_CLOEXEC) != 0);
        std::error_code ec;
        auto quiet = socket_pair(type, ec);
        REQUIRE_FALSE(ec);
        CHECK((::fcntl(quiet.first.native_handle(), F_GETFD) & FD_CLOEXEC) != 0);
        CHECK((::fcntl(quiet.second.native_handle(), F_GETFD) & FD_CLOEXEC) != 0);
    }
}
#endif

namespace {
// The what() of the TransferError call throws, or "(nothing thrown)".
template <class Call>
std::string transfer_error_text(Call call) {
    try {
        call();
    } catch (const TransferError& e) {
        return e.what();
    }
    return "(nothing thrown)";
}
}  // namespace

TEST_CASE("transfer errors name the peer, also after a reset, where a server log needs it (#23)", "[socket][error]") {
    auto p = test::tcp_pair();
    const std::string peer = p.client.peer_address().to_string();
    const std::string local = p.client.local_address().to_string();
    char c = 0;
    SECTION("a timeout on a live connection") {
        std::string what = transfer_error_text([&] { (void)p.client.recv(&c, 1, std::chrono::milliseconds(1)); });
        INFO(what);
        CHECK(what.find("recv with " + peer) == 0);
    }
    SECTION("after a reset") {
        p.server.set_linger(std::chrono::seconds(0));
        p.server.close();  // RST
        std::string what = transfer_error_text([&] { (void)p.client.recv(&c, 1, std::chrono::seconds(10)); });
        INFO(what);
#if defined(__linux__)
        CHECK(what.find("recv with " + peer + ": ") == 0);
        CHECK(what.find(local) == std::string::npos);
#elif defined(_WIN32)
        // wine may report the reset as an orderly end (recv returns 0, nothing thrown); an error,
        // when there is one, still names the operation.
        CHECK((what == "(nothing thrown)" || what.find("recv ") == 0));
#else
        CHECK(what.find("recv ") == 0);  // elsewhere the OS may forget a reset peer: then the local address
#endif
        std::vector<char> data(1 << 20);
        for (auto send : {std::function<void()>([&] { p.client.send_all(data.data(), data.size()); }),
                          std::function<void()>([&] { send_message(p.client, std::string_view(data.data(), data.size())); }),
                          std::function<void()>([&] { send_line(p.client, "line"); })}) {
            what = transfer_error_text(send);
            INFO(what);
#if defined(__linux__)
            CHECK(what.find(" with " + peer + ": ") != std::string::npos);
            CHECK(what.find(local) == std::string::npos);
#else
            CHECK(what != "(nothing thrown)");
#endif
        }
    }
    SECTION("an unconnected datagram socket has no peer: the local address") {
        Socket udp = Socket::udp();
        udp.bind(Address::loopback(Family::ipv4));
        std::string what = transfer_error_text([&] { (void)udp.recv(&c, 1, std::chrono::milliseconds(1)); });
        INFO(what);
        CHECK(what.find("recv on " + udp.local_address().to_string() + ": ") == 0);
    }
}

TEST_CASE("an orderly close is seen as recv returning 0", "[socket]") {
    auto p = test::tcp_pair();
    p.client.close();
    char c;
    CHECK(p.server.recv(&c, 1) == 0);
    std::error_code ec;
    CHECK(p.server.recv(&c, 1, ec) == 0);
    CHECK_FALSE(ec);
}

TEST_CASE("listen_on claims its port: another socket cannot bind over it, even with SO_REUSEADDR", "[socket][listen]") {
    // Windows lets a SO_REUSEADDR socket steal a port unless the owner set SO_EXCLUSIVEADDRUSE.
    Socket listener = listen_on(Address::loopback(Family::ipv4));
    Socket thief = Socket::tcp();
    thief.set_reuse_address(true);
    std::error_code ec;
    thief.bind(listener.local_address(), ec);
    CHECK((ec == std::errc::address_in_use || ec == std::errc::permission_denied));
}

TEST_CASE("an IPv6 listener from listen_on is IPv6-only on every platform", "[socket][listen][ipv6]") {
    std::error_code ec;
    Socket listener = listen_on(Address::loopback(Family::ipv6), ec);
    if (ec) {
        WARN("no IPv6 loopback here: " << ec.message());
        return;
    }
    CHECK(listener.v6_only());  // Linux defaults to dual stack, Windows to v6-only: we choose
}

TEST_CASE("close with a linger time on a non-blocking socket really closes it", "[socket][close]") {
    // Windows: closesocket fails with WSAEWOULDBLOCK in this case and leaves the socket open.
    auto p = test::tcp_pair();
    p.client.set_linger(std::chrono::seconds(1));
    p.client.set_nonblocking(true);
    p.client.send_all(std::string("last words"));
    native_handle_type old = p.client.native_handle();
    std::error_code ec;
    p.client.close(ec);
    CHECK_FALSE(ec);
    CHECK_FALSE(p.client.is_open());
    int type = 0;
    detail::socklen len = sizeof type;
    CHECK(::getsockopt(old, SOL_SOCKET, SO_TYPE, reinterpret_cast<char*>(&type), &len) != 0);  // gone
    std::string words(10, '\0');
    CHECK(p.server.recv_exact(words, std::chrono::seconds(10)) == 10);
    CHECK(words == "last words");
}

// ---- issue 25: receiving into an empty container, recv_some, "host:port" listeners ----------

// recv_some until want bytes came: one call may return fewer (scripts/test-faults cuts them).
static std::string recv_some_until(Socket& s, std::size_t want) {
    using namespace std::chrono_literals;
    std::string got;
    while (got.size() < want) {
        std::string part = s.recv_some(want - got.size(), 10s);
        if (part.empty()) break;
        got += part;
    }
    return got;
}

TEST_CASE("recv into an empty container is errc::empty_buffer, never the 0 of a closed peer", "[socket][recv]") {
    using namespace std::chrono_literals;
    auto p = test::tcp_pair();
    p.client.send_all("hello");
    std::string reply;  // the new user's first guess: empty, so recv had nowhere to put a byte
    std::error_code ec;
    CHECK(p.server.recv(reply, ec) == 0);
    CHECK(ec == errc::empty_buffer);
    CHECK(ec == std::errc::invalid_argument);
    CHECK(p.server.recv(reply, 5s, ec) == 0);
    CHECK(ec == errc::empty_buffer);
    reply.reserve(100);  // capacity is never written into: size() is the room
    CHECK(p.server.recv(reply, 5s, ec) == 0);
    CHECK(ec == errc::empty_buffer);
    CHECK_FALSE(p.server.try_recv(reply, ec).has_value());
    CHECK(ec == errc::empty_buffer);
    std::vector<unsigned char> empty_bytes;
    CHECK(p.server.recv(empty_bytes, ec) == 0);
    CHECK(ec == errc::empty_buffer);
    try {
        (void)p.server.recv(reply, 5s);
        FAIL("no exception");
    } catch (const TransferError& e) {
        CHECK(e.code() == errc::empty_buffer);
        CHECK(std::string(e.what()).find("recv_some") != std::string::npos);
        CHECK(e.bytes_transferred() == 0);
    }
    CHECK_THROWS_AS((void)p.server.recv(reply), TransferError);
    CHECK_THROWS_AS((void)p.server.try_recv(reply), TransferError);
    // A (pointer, 0) receive stays what the OS makes of it: 0 at once, no error.
    char unused = 0;
    CHECK(p.server.recv(&unused, 0, ec) == 0);
    CHECK_FALSE(ec);
    // Nothing was consumed: the data is still there for the safe form.
    CHECK(recv_some_until(p.server, 5) == "hello");

    Socket udp = Socket::udp();
    udp.bind(Address::loopback(Family::ipv4));
    std::vector<char> none;
    (void)udp.recv_from(none, Timeout::zero(), ec);
    CHECK(ec == errc::empty_buffer);
    CHECK_THROWS_AS((void)udp.recv_from(none, 1s), TransferError);
}

TEST_CASE("recv_some with a huge max neither throws nor allocates it; errors come in the documented order", "[socket][recv]") {
    using namespace std::chrono_literals;
    auto p = test::tcp_pair();
    p.client.send_all("abc");
    std::error_code ec;
    std::string got = p.server.recv_some(SIZE_MAX, 5s, ec);  // a max from a peer's length field
    CHECK_FALSE(ec);
    CHECK(got.size() >= 1);
    CHECK(got.capacity() <= 65536 + 64);
    got += recv_some_until(p.server, 3 - got.size());
    CHECK(got == "abc");
    p.client.send_all("d");
    CHECK(p.server.recv_some(std::size_t(1) << 40, 5s, ec) == "d");
    CHECK_FALSE(ec);
    // Not open comes before an empty buffer; cancelled too, for a call given an Interrupter.
    Socket moved = std::move(p.server);
    std::string empty;
    (void)p.server.recv(empty, ec);
    CHECK(ec == errc::not_open);
    (void)p.server.recv_some(0, ec);
    CHECK(ec == errc::not_open);
    Interrupter stop;
    stop.interrupt();
    (void)moved.recv_some(0, stop, ec);
    CHECK(ec == errc::cancelled);
    (void)moved.recv(MutableBuffer(nullptr, 0), stop, ec);
    CHECK(ec == errc::cancelled);
}

TEST_CASE("listen_on text: an unbracketed IPv6 address with any port gets the brackets hint", "[socket][listen]") {
    std::error_code ec;
    for (const char* text : {"::1:43407", "::1:0"}) {
        INFO(text);
        CHECK_FALSE(listen_on(std::string_view(text), ec).is_open());
        CHECK(ec == errc::ipv6_needs_brackets);
    }
}

TEST_CASE("recv_some returns what arrived as a string; empty means the peer closed", "[socket][recv]") {
    using namespace std::chrono_literals;
    auto p = test::tcp_pair();
    p.client.send_all("abcdef");
    std::string first = p.server.recv_some(4, 5s);  // at most 4, at least 1
    REQUIRE_FALSE(first.empty());
    CHECK(first.size() <= 4);
    std::error_code ec;
    std::string rest = p.server.recv_some(100, 5s, ec);
    CHECK_FALSE(ec);
    rest += recv_some_until(p.server, 6 - first.size() - rest.size());
    CHECK(first + rest == "abcdef");
    p.client.shutdown(Shutdown::write);
    CHECK(p.server.recv_some(100) == "");
    CHECK(p.server.recv_some(100, ec).empty());
    CHECK_FALSE(ec);
    (void)p.server.recv_some(0, ec);
    CHECK(ec == errc::empty_buffer);
    CHECK_THROWS_AS((void)p.server.recv_some(0), TransferError);
    // A datagram larger than max: what fit, and the error, as recv reports it.
    Socket a = Socket::udp(), b = Socket::udp();
    a.bind(Address::loopback(Family::ipv4));
    b.connect(a.local_address());
    a.connect(b.local_address());
    b.send_all("0123456789");
    std::string cut = a.recv_some(4, 5s, ec);
    CHECK(ec == errc::datagram_truncated);
    CHECK(cut == "0123");
    // Not open: the error, and an empty string.
    Socket closed;
    CHECK(closed.recv_some(10, ec).empty());
    CHECK(ec == errc::not_open);
}

TEST_CASE("listen_on takes host:port text, numeric or a name, and errors name the text", "[socket][text]") {
    Socket listener = listen_on("127.0.0.1:0");
    Address at = listener.local_address();
    CHECK(at.family() == Family::ipv4);
    CHECK(at.port() != 0);
    Socket client = connect_to(at);
    Socket peer = listener.accept();
    CHECK(peer.peer_address() == client.local_address());

    std::error_code ec;
    Socket by_name = listen_on("localhost:0", ec);  // resolved: the resolver's first loopback address
    CHECK_FALSE(ec);
    CHECK(by_name.local_address().is_loopback());
    Socket with_backlog = listen_on("127.0.0.1:0", 4);
    CHECK(with_backlog.is_open());
    ListenOptions options;
    options.backlog = 4;
    Socket with_options = listen_on("127.0.0.1:0", options, ec);
    CHECK_FALSE(ec);
    CHECK(with_options.is_open());

    Socket none = listen_on("127.0.0.1", ec);
    CHECK(ec == errc::missing_port);
    CHECK_FALSE(none.is_open());
    (void)listen_on("127.0.0.1:x", ec);
    CHECK(ec == errc::invalid_port);
    try {
        (void)listen_on("127.0.0.1:99999");
        FAIL("no exception");
    } catch (const std::system_error& e) {
        CHECK(e.code() == errc::port_out_of_range);
        CHECK(std::string(e.what()).find("\"127.0.0.1:99999\"") != std::string::npos);
    }
    // The port is taken: the bind error, naming the text.
    std::string taken = "127.0.0.1:" + std::to_string(at.port());
    try {
        (void)listen_on(taken);
        FAIL("no exception");
    } catch (const std::system_error& e) {
        CHECK(e.code() == std::errc::address_in_use);
        CHECK(std::string(e.what()).find(taken) != std::string::npos);
    }
}

TEST_CASE("an Interrupter stops accept and recv blocked in other threads, with errc::cancelled", "[socket][interrupter]") {
    using namespace std::chrono_literals;
    Socket listener = listen_on("127.0.0.1:0");
    Interrupter stop;
    CHECK_FALSE(stop.interrupted());
    std::error_code ec;
    // It waits: nothing to accept, nothing interrupted, so the deadline ends it.
    (void)listener.accept(stop, 50ms, ec);
    CHECK(ec == std::errc::timed_out);

    auto started = std::chrono::steady_clock::now();
    auto accepting = std::async(std::launch::async, [&] {
        std::error_code e;
        Socket none = listener.accept(stop, 60s, e);  // the hang guard: 60 s
        return std::make_pair(e, none.is_open());
    });
    stop.interrupt();
    auto [accept_ec, accepted] = accepting.get();
    CHECK(accept_ec == errc::cancelled);
    CHECK(accept_ec == std::errc::operation_canceled);
    CHECK_FALSE(accepted);
    CHECK(std::chrono::steady_clock::now() - started < 30s);
    // Interrupted is a state: every later call fails at once, in every form.
    (void)listener.accept(stop, ec);
    CHECK(ec == errc::cancelled);
    try {
        (void)listener.accept(stop);
        FAIL("no exception");
    } catch (const std::system_error& e) {
        CHECK(e.code() == errc::cancelled);
    }
    stop.interrupt();  // again: still one state, one reset
    stop.reset();
    CHECK_FALSE(stop.interrupted());
    (void)listener.accept(stop, Timeout::zero(), ec);
    CHECK(ec == std::errc::timed_out);  // drained: the handle no longer wakes anything

    // The listener was never closed under the waiting thread: it still accepts.
    Socket client = connect_to(listener.local_address());
    Socket server = listener.accept(stop, 10s);
    REQUIRE(server.is_open());

    auto receiving = std::async(std::launch::async, [&] {
        std::error_code e;
        char buffer[16];
        std::size_t n = server.recv(MutableBuffer(buffer, sizeof buffer), stop, 60s, e);
        return std::make_pair(e, n);
    });
    stop.interrupt();
    auto [recv_ec, received] = receiving.get();
    CHECK(recv_ec == errc::cancelled);
    CHECK(received == 0);
    stop.reset();
    // What arrives later is there for the next call.
    client.send_all("after");
    std::string after = server.recv_some(16, stop, 10s);
    REQUIRE_FALSE(after.empty());
    CHECK(after + recv_some_until(server, 5 - after.size()) == "after");
    std::string room(8, '\0');
    client.send_all("more");
    std::size_t more = server.recv(room, stop, 10s, ec);
    CHECK_FALSE(ec);
    REQUIRE(more > 0);
    CHECK(room.substr(0, more) + recv_some_until(server, 4 - more) == "more");
    stop.interrupt();
    CHECK(server.recv_some(16, stop, ec).empty());
    CHECK(ec == errc::cancelled);
    CHECK_THROWS_AS((void)server.recv(room, stop), TransferError);
    std::string empty;
    stop.reset();
    (void)server.recv(empty, stop, ec);
    CHECK(ec == errc::empty_buffer);

    // Its handle wakes a Poller too.
    Poller poller;
    poller.add(stop.native_handle(), Events::readable, 7);
    CHECK(poller.wait(Timeout::zero()).empty());
    stop.interrupt();
    auto ready = poller.wait(10s);
    REQUIRE(ready.size() == 1);
    CHECK(ready.begin()->token == 7);
    poller.remove(stop.native_handle());
}
