// send_many / recv_many: batches over loopback UDP, exact partial counts, truncation per
// datagram, the time rule and every call form.
#include <sockets/sockets.hpp>

#include <chrono>
#include <string>
#include <vector>

#include "catch.hpp"
#include "support.hpp"

using namespace sockets;
using namespace std::chrono_literals;

namespace {

struct UdpPair {
    Socket sender = Socket::udp();
    Socket receiver = Socket::udp();
    UdpPair() {
        receiver.bind(Address::loopback(Family::ipv4));
        sender.bind(Address::loopback(Family::ipv4));
    }
};

std::string numbered(std::size_t i, std::size_t size) {
    std::string s(size, static_cast<char>('a' + i % 26));
    std::string tag = std::to_string(i);
    s.replace(0, tag.size() < size ? tag.size() : size, tag.substr(0, size));
    return s;
}

// Slots of capacity bytes each, backed by storage.
std::vector<IncomingDatagram> slots(std::vector<std::string>& storage, std::size_t count, std::size_t capacity) {
    storage.assign(count, std::string(capacity, '\0'));
    std::vector<IncomingDatagram> in(count);
    for (std::size_t i = 0; i < count; ++i) in[i].buffer = MutableBuffer(storage[i]);
    return in;
}

// Receives until want datagrams came in (each call takes at least one), 10 s hang guard.
std::size_t recv_all(Socket& s, std::vector<IncomingDatagram>& in, std::size_t want, std::vector<std::size_t>& calls) {
    std::size_t got = 0;
    while (got < want) {
        std::size_t n = recv_many(s, in.data() + got, want - got, 10s);
        calls.push_back(n);
        got += n;
    }
    return got;
}

}  // namespace

TEST_CASE("a batch larger than one system call arrives whole, in order, with senders", "[batch]") {
    UdpPair p;
    const Address to = p.receiver.local_address();
    const std::size_t count = 150;  // more than detail::batch_size: several calls
    std::vector<std::string> payloads;
    std::vector<OutgoingDatagram> out;
    for (std::size_t i = 0; i < count; ++i) payloads.push_back(numbered(i, 1 + i % 40));
    for (auto& bytes : payloads) out.push_back(OutgoingDatagram{bytes, &to});
    CHECK(send_many(p.sender, out.data(), out.size()) == count);

    std::vector<std::string> storage;
    auto in = slots(storage, count, 64);
    std::vector<std::size_t> calls;
    REQUIRE(recv_all(p.receiver, in, count, calls) == count);
    for (std::size_t n : calls) CHECK(n >= 1);
    for (std::size_t i = 0; i < count; ++i) {
        CHECK(in[i].size == payloads[i].size());
        CHECK(storage[i].substr(0, in[i].size) == payloads[i]);
        CHECK_FALSE(in[i].truncated);
        CHECK(in[i].sender == p.sender.local_address());
    }
}

TEST_CASE("truncation is reported per datagram, not as an error", "[batch]") {
    UdpPair p;
    const Address to = p.receiver.local_address();
    std::string small = "0123456789", big(100, 'z');
    OutgoingDatagram out[] = {{small, &to}, {big, &to}, {small, &to}};
    REQUIRE(send_many(p.sender, out, 3) == 3);
    std::vector<std::string> storage;
    auto in = slots(storage, 3, 50);
    std::vector<std::size_t> calls;
    REQUIRE(recv_all(p.receiver, in, 3, calls) == 3);
    CHECK_FALSE(in[0].truncated);
    CHECK(in[1].truncated);
    CHECK(in[1].size == 50);
    CHECK(storage[1] == big.substr(0, 50));
    CHECK_FALSE(in[2].truncated);
    CHECK(in[2].size == 10);
    CHECK(storage[2].substr(0, 10) == small);
}

TEST_CASE("recv_many takes what is queued and does not wait to fill the batch", "[batch]") {
    UdpPair p;
    const Address to = p.receiver.local_address();
    OutgoingDatagram out[] = {{"a", &to}, {"b", &to}, {"c", &to}};
    REQUIRE(send_many(p.sender, out, 3) == 3);
    std::vector<std::string> storage;
    auto in = slots(storage, 10, 8);
    std::error_code ec;
    std::size_t total = 0;
    while (total < 3 && !ec) total += recv_many(p.receiver, in.data() + total, in.size() - total, 10s, ec);
    CHECK_FALSE(ec);  // had it waited for 10, this would be timed_out
    CHECK(total == 3);
    CHECK(recv_many(p.receiver, in.data(), in.size(), 0s, ec) == 0);  // nothing left: no wait
    CHECK(ec == std::errc::timed_out);
}

TEST_CASE("a partial send batch is reported exactly", "[batch]") {
    UdpPair p;
    const Address to = p.receiver.local_address();
    std::string too_big(70000, 'x');  // over the UDP limit (65507)
    OutgoingDatagram out[] = {{"one", &to}, {"two", &to}, {too_big, &to}, {"four", &to}};
    std::error_code ec;
    CHECK(send_many(p.sender, out, 4, ec) == 2);
    CHECK(ec == std::errc::message_size);
    CHECK(send_many(p.sender, out, 4, 10s, ec) == 2);
    CHECK(ec == std::errc::message_size);
    try {
        (void)send_many(p.sender, out, 4);
        FAIL("no exception");
    } catch (const TransferError& e) {
        CHECK(e.bytes_transferred() == 2);  // datagrams, for the batch calls
        CHECK(e.code() == std::errc::message_size);
        CHECK(std::string(e.what()).find("send_many " + to.to_string()) != std::string::npos);
    }
    std::vector<std::string> storage;
    auto in = slots(storage, 6, 8);
    std::vector<std::size_t> calls;
    REQUIRE(recv_all(p.receiver, in, 6, calls) == 6);  // one, two, three times over
    for (std::size_t i = 0; i < 6; ++i) CHECK(storage[i].substr(0, in[i].size) == (i % 2 ? "two" : "one"));
    CHECK(recv_many(p.receiver, in.data(), in.size(), 0s, ec) == 0);
    CHECK(ec == std::errc::timed_out);  // "four" never went out
}

TEST_CASE("timed recv_many gives up at its deadline; the throwing forms throw", "[batch]") {
    UdpPair p;
    std::vector<std::string> storage;
    auto in = slots(storage, 4, 8);
    std::error_code ec;
    auto start = std::chrono::steady_clock::now();
    CHECK(recv_many(p.receiver, in.data(), in.size(), 50ms, ec) == 0);
    CHECK(ec == std::errc::timed_out);
    CHECK(std::chrono::steady_clock::now() - start >= 50ms);
    CHECK_THROWS_AS(recv_many(p.receiver, in.data(), in.size(), 0s), TransferError);
    // A plain call bounded by the socket's own timeout reports it the same way.
    p.receiver.set_receive_timeout(50ms);
    CHECK(recv_many(p.receiver, in.data(), in.size(), ec) == 0);
    CHECK(ec == std::errc::timed_out);
    CHECK_THROWS_AS(recv_many(p.receiver, in.data(), in.size()), TransferError);
}

TEST_CASE("connected sockets batch without addresses; a closed socket is not_open", "[batch]") {
    UdpPair p;
    p.sender.connect(p.receiver.local_address());
    OutgoingDatagram out[] = {{"x", nullptr}, {"yy", nullptr}};
    std::error_code ec;
    CHECK(send_many(p.sender, out, 2, ec) == 2);
    CHECK_FALSE(ec);
    CHECK(send_many(p.sender, out, 2, 10s) == 2);
    std::vector<std::string> storage;
    auto in = slots(storage, 4, 8);
    std::vector<std::size_t> calls;
    REQUIRE(recv_all(p.receiver, in, 4, calls) == 4);
    CHECK(storage[3].substr(0, in[3].size) == "yy");
    CHECK(recv_many(p.receiver, in.data(), 0, ec) == 0);  // an empty batch: nothing to do
    CHECK_FALSE(ec);

    Socket closed;
    CHECK(send_many(closed, out, 2, ec) == 0);
    CHECK(ec == errc::not_open);
    CHECK(recv_many(closed, in.data(), in.size(), 10s, ec) == 0);
    CHECK(ec == errc::not_open);
    CHECK_THROWS_AS(send_many(closed, out, 2), TransferError);
}

// socket.hpp's fast path for plain send_all/recv_exact hands a short first call to the shared
// handling: what that call moved must count, and the wait after it must follow the time rule.
TEST_CASE("plain recv_exact: bytes of a short first call count when the rest times out or ends", "[fast_path]") {
    auto p = test::tcp_pair();
    p.server.set_receive_timeout(50ms);
    char buffer[4] = {};
    std::error_code ec;
    p.client.send_all("ab");
    CHECK(p.server.recv_exact(buffer, 4, ec) == 2);
    CHECK(ec == std::errc::timed_out);
    CHECK(std::string(buffer, 2) == "ab");
    p.client.send_all("xy");
    try {
        p.server.recv_exact(buffer, 4);
        FAIL("no exception");
    } catch (const TransferError& e) {
        CHECK(e.bytes_transferred() == 2);
        CHECK(e.code() == std::errc::timed_out);
    }
    p.client.send_all("cd");
    CHECK(p.server.recv_exact(buffer, 2) == 2);  // nothing lost or reordered
    CHECK(std::string(buffer, 2) == "cd");
    p.client.send_all("e");
    p.client.shutdown(Shutdown::write);
    CHECK(p.server.recv_exact(buffer, 4, ec) == 1);
    CHECK(ec == errc::end_of_stream);
    CHECK(buffer[0] == 'e');
    Socket closed;
    CHECK(closed.recv_exact(buffer, 4, ec) == 0);
    CHECK(ec == errc::not_open);
    CHECK(closed.send_all(buffer, 4, ec) == 0);
    CHECK(ec == errc::not_open);
    CHECK(closed.recv_exact(buffer, 0, ec) == 0);
    CHECK(ec == errc::not_open);
}
