// The catalogue of bad input a user can give: each gets a clear error and no UB.
#include <sockets/sockets.hpp>

#include <chrono>
#include <future>
#include <string>
#include <vector>

#include "catch.hpp"
#include "support.hpp"

using namespace sockets;
using namespace std::chrono_literals;

TEST_CASE("bad addresses and ports", "[bad_input]") {
    std::error_code ec;
    for (const char* text : {"", "nonsense", "1.2.3.4:", ":80", "1.2.3.4:80:80", "[::1]:", "[::1]]:80",
                             "1.2.3.4:0x50", "999.1.1.1:1", "[::1]:65536", "1.2.3.4:65536", "1.2.3.4:-80"}) {
        INFO(text);
        Address::parse(text, ec);
        CHECK(ec);
        CHECK(ec.category() == error_category());
    }
    Address::parse(std::string(5000, '['), ec);
    CHECK(ec == errc::invalid_address);
    Address::from_ip("", 80, ec);
    CHECK(ec == errc::invalid_address);
    Address::from_ip("127.0.0.1", 65536, ec);
    CHECK(ec == errc::port_out_of_range);
    Address::from_ip("127.0.0.1", -1, ec);
    CHECK(ec == errc::port_out_of_range);
    resolve("", 80, ec);
    CHECK(ec == errc::invalid_address);
    resolve(std::string(300, 'a'), 80, ec);
    CHECK(ec == errc::invalid_address);
    resolve("no-such-host.invalid", 80, ec);
    CHECK(ec.category() == resolve_category());
    (void)connect_to("localhost", 65536, ec);
    CHECK(ec == errc::port_out_of_range);
    CHECK_THROWS_AS(connect_to("", 80), std::system_error);
}

TEST_CASE("zero sizes and empty buffers", "[bad_input]") {
    auto p = test::tcp_pair();
    CHECK(p.client.send_all(nullptr, 0) == 0);
    CHECK(p.server.recv_exact(nullptr, 0) == 0);
    CHECK(p.client.send_all(std::string()) == 0);
    std::vector<char> empty;
    CHECK(p.server.recv_exact(empty) == 0);
    p.client.send_all(std::string("z"));
    char c;
    CHECK(p.server.recv_exact(&c, 1) == 1);  // the empty calls consumed nothing
    CHECK(c == 'z');
}

TEST_CASE("closed, moved-from and never-opened sockets; double close", "[bad_input]") {
    Socket never;
    std::error_code ec;
    never.close(ec);
    CHECK_FALSE(ec);  // closing a closed socket is a no-op
    never.bind(Address::loopback(Family::ipv4), ec);
    CHECK(ec == errc::not_open);
    never.listen(ec);
    CHECK(ec == errc::not_open);
    never.set_nonblocking(true, ec);
    CHECK(ec == errc::not_open);
    char c;
    CHECK_FALSE(never.try_recv(&c, 1, ec));
    CHECK(ec == errc::not_open);
    never.send_to(Address::loopback(Family::ipv4, 9), &c, 1, ec);
    CHECK(ec == errc::not_open);
    CHECK_THROWS_AS(never.peer_address(), std::system_error);
    Socket s = Socket::tcp();
    s.close();
    s.close();
    CHECK_THROWS_AS(s.send_all("x", 1), TransferError);
}

TEST_CASE("listen on a connected socket is refused", "[bad_input]") {
    auto p = test::tcp_pair();
    std::error_code ec;
    p.client.listen(ec);
    CHECK(ec);
    CHECK_THROWS_AS(p.client.listen(), std::system_error);
}

TEST_CASE("recv_exact after the peer half-closed is end_of_stream with 0 bytes", "[bad_input]") {
    auto p = test::tcp_pair();
    p.client.shutdown(Shutdown::write);
    char buffer[4];
    std::error_code ec;
    CHECK(p.server.recv_exact(buffer, sizeof buffer, ec) == 0);
    CHECK(ec == errc::end_of_stream);
}

TEST_CASE("oversized frames and huge sizes", "[bad_input]") {
    MessageBuffer buffer(100);
    unsigned char prefix[8];
    store_be(prefix, std::uint64_t{~0ull});
    buffer.feed(prefix, 8);
    std::error_code ec;
    CHECK_FALSE(buffer.next_message(ec, Prefix::u64));
    CHECK(ec == errc::message_too_large);
    CHECK(buffer.size() == 8);
    CHECK_FALSE(buffer.next_line(ec, ""));
    CHECK(ec == std::errc::invalid_argument);
}

// Thread-safety rules (docs/guide.md): distinct objects are independent; one Socket may be
// used by one sending and one receiving thread at once; Poller and StreamReader are not shared.
TEST_CASE("full duplex: one thread sends while another receives on the same socket", "[threads]") {
    auto p = test::tcp_pair();
    auto data = test::pattern(4u << 20, 21);
    auto echo = std::async(std::launch::async, [&] {  // the server echoes in its own thread
        std::vector<unsigned char> buffer(65536);
        while (std::size_t n = p.server.recv(buffer.data(), buffer.size())) p.server.send_all(buffer.data(), n);
    });
    auto sender = std::async(std::launch::async, [&] {
        p.client.send_all(data.data(), data.size());
        p.client.shutdown(Shutdown::write);
    });
    std::vector<unsigned char> back(data.size());
    p.client.recv_exact(back.data(), back.size(), 60s);
    sender.get();
    echo.get();
    CHECK((back == data));
}

TEST_CASE("sockets and error categories used from many threads at once", "[threads]") {
    std::vector<std::future<bool>> workers;
    for (int t = 0; t < 8; ++t)
        workers.push_back(std::async(std::launch::async, [t] {
            for (int i = 0; i < 20; ++i) {
                auto p = test::tcp_pair(t % 2 ? Family::ipv6 : Family::ipv4);
                std::error_code ec = errc::end_of_stream;
                if (ec.message().empty()) return false;
                p.client.send_all(std::string("t"));
                char c;
                p.server.recv_exact(&c, 1);
                if (c != 't') return false;
            }
            return true;
        }));
    for (auto& w : workers) CHECK(w.get());
}
