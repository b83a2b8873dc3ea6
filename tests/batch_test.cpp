// send_many / recv_many: batches over loopback UDP, exact partial counts, truncation per
// datagram, the time rule and every call form.
#include <sockets/sockets.hpp>

#include <array>
#include <chrono>
#include <cstdint>
#include <future>
#include <string>
#include <thread>
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

// ---- runs of same-size datagrams (Linux: one UDP_SEGMENT send per run) -------------------
// Whatever path a batch takes, every datagram must arrive with its own boundary and bytes, in
// order, and the counts must be exact.

namespace {

// Distinct bytes per datagram, so a boundary in the wrong place or a misplaced byte shows.
std::string distinct(std::size_t i, std::size_t size) {
    auto bytes = test::pattern(size, static_cast<std::uint32_t>(i + 1));
    return std::string(bytes.begin(), bytes.end());
}

// Within the default net.core.rmem_max (212992): the same room on every machine, so a test
// that fits here fits everywhere (loopback UDP drops what does not fit).
constexpr int receive_room = 200000;

bool ipv6_loopback() {
    std::error_code ec;
    Socket probe = Socket::udp(Family::ipv6);
    probe.bind(Address::loopback(Family::ipv6), ec);
    return !ec;
}

// Receives exactly want.size() datagrams and checks each, then that nothing else is queued.
void expect_datagrams(Socket& r, const std::vector<std::string>& want, const Address* sender = nullptr) {
    std::size_t room = 1;
    for (auto& w : want) room = w.size() + 1 > room ? w.size() + 1 : room;
    std::vector<std::string> storage;
    auto in = slots(storage, want.size(), room);
    std::vector<std::size_t> calls;
    REQUIRE(recv_all(r, in, want.size(), calls) == want.size());
    std::size_t wrong = 0;
    for (std::size_t i = 0; i < want.size(); ++i) {
        if (in[i].size != want[i].size() || storage[i].compare(0, in[i].size, want[i]) != 0 || in[i].truncated ||
            (sender && !(in[i].sender == *sender))) {
            if (++wrong <= 3) FAIL_CHECK("datagram " << i << ": " << in[i].size << " bytes, want " << want[i].size());
        }
    }
    CHECK(wrong == 0);
    std::error_code ec;
    CHECK(recv_many(r, in.data(), 1, 0s, ec) == 0);  // nothing merged, split or left over
    CHECK(ec == std::errc::timed_out);
}

struct Batch {
    std::vector<std::string> payloads;
    std::vector<const Address*> to;
    void add(std::size_t size, const Address* where, std::size_t times = 1) {
        for (std::size_t k = 0; k < times; ++k) {
            payloads.push_back(distinct(payloads.size(), size));
            to.push_back(where);
        }
    }
    std::vector<OutgoingDatagram> datagrams() const {
        std::vector<OutgoingDatagram> out;
        for (std::size_t i = 0; i < payloads.size(); ++i) out.push_back(OutgoingDatagram{payloads[i], to[i]});
        return out;
    }
    std::vector<std::string> sent_to(const Address* where, std::size_t from = 0, std::size_t until = ~std::size_t{0}) const {
        std::vector<std::string> want;
        for (std::size_t i = from; i < payloads.size() && i < until; ++i)
            if (to[i] == where || (to[i] && where && *to[i] == *where)) want.push_back(payloads[i]);
        return want;
    }
};

}  // namespace

TEST_CASE("same-size runs arrive as separate datagrams with their own bytes (IPv4, IPv6; connected, addressed)",
          "[batch][segments]") {
    std::vector<Family> families{Family::ipv4};
    if (ipv6_loopback()) families.push_back(Family::ipv6);
    else WARN("no IPv6 loopback: IPv4 only");
    for (Family family : families) {
        for (bool connected : {false, true}) {
            CAPTURE(family == Family::ipv6, connected);
            Socket sender = Socket::udp(family), receiver = Socket::udp(family);
            receiver.bind(Address::loopback(family));
            sender.bind(Address::loopback(family));
            receiver.set_receive_buffer_size(receive_room);
            const Address to = receiver.local_address();
            if (connected) sender.connect(to);
            const Address* where = connected ? nullptr : &to;
            Batch b;
            b.add(100, where, 150);  // longer than 64: several runs
            b.add(100, where, 3);
            b.add(37, where);  // a shorter last one ends a run
            b.add(37, where);  // ... and starts the next
            b.add(5, where, 2);
            b.add(9, where);  // alone: larger than the one before
            b.add(1, where, 2);
            auto out = b.datagrams();
            std::error_code ec;
            CHECK(send_many(sender, out.data(), out.size(), ec) == out.size());
            CHECK_FALSE(ec);
            const Address from = sender.local_address();
            expect_datagrams(receiver, b.payloads, &from);
            CHECK(send_many(sender, out.data(), out.size(), 10s) == out.size());  // the timed form too
            expect_datagrams(receiver, b.payloads);
        }
    }
}

TEST_CASE("interleaved sizes and destinations keep their order per destination", "[batch][segments]") {
    Socket sender = Socket::udp(), r1 = Socket::udp(), r2 = Socket::udp();
    for (Socket* s : {&sender, &r1, &r2}) s->bind(Address::loopback(Family::ipv4));
    r1.set_receive_buffer_size(receive_room);
    r2.set_receive_buffer_size(receive_room);
    const Address a1 = r1.local_address(), a2 = r2.local_address();
    const Address a1_again = r1.local_address();  // equal, another object: still one run
    Batch b;
    b.add(64, &a1, 5);
    b.add(64, &a1_again, 4);
    b.add(64, &a2, 3);
    b.add(64, &a1, 1);
    b.add(64, &a2, 70);
    b.add(0, &a2);  // an empty datagram: never part of a run
    b.add(0, &a2);
    b.add(200, &a1, 2);
    b.add(300, &a1, 2);  // larger: a new run
    for (std::size_t k = 0; k < 40; ++k) b.add(1 + k % 3 * 50, k % 5 < 2 ? &a1 : &a2);
    auto out = b.datagrams();
    CHECK(send_many(sender, out.data(), out.size()) == out.size());
    expect_datagrams(r1, b.sent_to(&a1));
    expect_datagrams(r2, b.sent_to(&a2));
}

TEST_CASE("a run larger than one UDP datagram's limit in total still arrives whole", "[batch][segments]") {
    UdpPair p;
    p.receiver.set_receive_buffer_size(receive_room);
    const Address to = p.receiver.local_address();
    Batch b;
    b.add(1400, &to, 60);   // 84000 bytes: over 64 KiB
    b.add(32753, &to, 2);   // 65506: exactly within the limit
    b.add(30000, &to, 3);   // 90000
    auto out = b.datagrams();
    CHECK(send_many(p.sender, out.data(), 60) == 60);
    expect_datagrams(p.receiver, b.sent_to(&to, 0, 60));
    CHECK(send_many(p.sender, out.data() + 60, 2) == 2);
    expect_datagrams(p.receiver, b.sent_to(&to, 60, 62));
    CHECK(send_many(p.sender, out.data() + 62, 3) == 3);
    expect_datagrams(p.receiver, b.sent_to(&to, 62));
}

TEST_CASE("a datagram too large amid same-size ones stops the batch with the exact count", "[batch][segments]") {
    UdpPair p;
    p.receiver.set_receive_buffer_size(receive_room);
    const Address to = p.receiver.local_address();
    for (std::size_t size : {std::size_t{64}, std::size_t{20000}}) {
        CAPTURE(size);
        Batch b;
        b.add(size, &to, 5);
        b.add(70000, &to);
        b.add(size, &to, 5);
        auto out = b.datagrams();
        std::error_code ec;
        CHECK(send_many(p.sender, out.data(), out.size(), ec) == 5);
        CHECK(ec == std::errc::message_size);
        expect_datagrams(p.receiver, b.sent_to(&to, 0, 5));
        try {
            (void)send_many(p.sender, out.data(), out.size(), 10s);
            FAIL("no exception");
        } catch (const TransferError& e) {
            CHECK(e.bytes_transferred() == 5);
            CHECK(e.code() == std::errc::message_size);
        }
        expect_datagrams(p.receiver, b.sent_to(&to, 0, 5));
    }
}

#if defined(__linux__)
#include <netinet/udp.h>
#include <poll.h>

TEST_CASE("connected to nobody: the refusal comes with the next send, counted exactly", "[batch][segments]") {
    std::vector<Family> families{Family::ipv4};
    if (ipv6_loopback()) families.push_back(Family::ipv6);
    for (Family family : families) {
        CAPTURE(family == Family::ipv6);
        Address nobody;
        Socket held = test::unreachable_udp_port(family, nobody);
        Socket sender = Socket::udp(family);
        sender.connect(nobody);
        Batch b;
        b.add(64, nullptr, 8);
        auto out = b.datagrams();
        std::error_code ec;
        CHECK(send_many(sender, out.data(), out.size(), ec) == out.size());
        CHECK_FALSE(ec);
        ::pollfd pending{sender.native_handle(), 0, 0};  // the ICMP error arrives: POLLERR
        int ready;
        do ready = ::poll(&pending, 1, 10000);
        while (ready < 0 && errno == EINTR);  // the fault stage injects EINTR into every call
        REQUIRE(ready == 1);
        CHECK(send_many(sender, out.data(), out.size(), ec) == 0);
        CHECK(ec == std::errc::connection_refused);
    }
}

// SO_NO_CHECK (IPv4 without UDP checksums) is one way to make the kernel refuse to segment
// (EINVAL): the runs must then go one datagram at a time, every one of them.
TEST_CASE("Linux: a run the kernel will not segment goes one datagram at a time", "[batch][segments]") {
    UdpPair p;
    int on = 1;
    REQUIRE(::setsockopt(p.sender.native_handle(), SOL_SOCKET, SO_NO_CHECK, &on, sizeof on) == 0);
    p.receiver.set_receive_buffer_size(receive_room);
    const Address to = p.receiver.local_address();
    Batch b;
    b.add(64, &to, 100);
    b.add(9, &to);
    b.add(500, &to, 3);
    auto out = b.datagrams();
    for (int round = 0; round < 2; ++round) {
        CHECK(send_many(p.sender, out.data(), out.size(), 10s) == out.size());
        expect_datagrams(p.receiver, b.payloads);
    }
}

// A receiver with UDP_GRO (opt-in here, on the test's socket) gets a segmented send whole, as one
// super-datagram, while separate sends stay separate: the sizes it sees are the runs.
TEST_CASE("Linux: each run leaves as one segmented send, cut where the rules say", "[batch][segments]") {
    UdpPair p;
    int on = 1;
    if (::setsockopt(p.receiver.native_handle(), IPPROTO_UDP, 104 /* UDP_GRO */, &on, sizeof on) != 0) {
        WARN("no UDP_GRO here: cannot see the runs");
        return;
    }
    p.receiver.set_receive_buffer_size(receive_room);
    const Address to = p.receiver.local_address(), elsewhere = p.sender.local_address();
    Batch b;
    b.add(100, &to, 3);
    b.add(50, &to);  // 350: a shorter last one ends the run
    b.add(7, &to);   // 7: alone (the next is larger)
    b.add(100, &to, 2);  // 200
    b.add(100, &elsewhere);  // another destination
    b.add(100, &to, 130);    // 64 segments at most: 6400, 6400, 200
    b.add(1400, &to, 60);    // 46 fit 65507: 64400, 19600
    b.add(0, &to);           // 0
    b.add(3, &to);           // 3
    auto out = b.datagrams();
    REQUIRE(send_many(p.sender, out.data(), out.size()) == out.size());
    const std::size_t want[] = {350, 7, 200, 6400, 6400, 200, 64400, 19600, 0, 3};
    std::string landing(70000, '\0');
    for (std::size_t size : want) {
        CAPTURE(size);
        Datagram d = p.receiver.recv_from(MutableBuffer(landing), 10s);
        CHECK(d.size == size);
    }
    // The one to elsewhere went out in its place: it sits on the sender's socket.
    CHECK(p.sender.recv_from(MutableBuffer(landing), 10s).size == 100);
}
#endif

#if !defined(_WIN32)
TEST_CASE("Unix-domain datagram sockets: runs keep their boundaries", "[batch][segments][unix]") {
    auto pair = socket_pair(Type::datagram);
    Batch b;
    b.add(64, nullptr, 6);
    b.add(10, nullptr);
    b.add(64, nullptr, 2);
    auto out = b.datagrams();
    for (int round = 0; round < 2; ++round) {  // the second time, the socket's answer is remembered
        CHECK(send_many(pair.first, out.data(), out.size()) == out.size());
        expect_datagrams(pair.second, b.payloads);
    }
#if defined(__linux__)
    // Addressed, unconnected: abstract names unique to this process.
    const std::string tag = "sockets-batch-test-" + std::to_string(::getpid());
    Socket sender = Socket::open(Family::unix_domain, Type::datagram);
    Socket receiver = Socket::open(Family::unix_domain, Type::datagram);
    sender.bind(Address::unix_abstract(tag + "-s"));
    receiver.bind(Address::unix_abstract(tag + "-r"));
    const Address to = receiver.local_address();
    Batch c;
    c.add(64, &to, 8);
    auto addressed = c.datagrams();
    CHECK(send_many(sender, addressed.data(), addressed.size(), 10s) == addressed.size());
    const Address from = sender.local_address();
    expect_datagrams(receiver, c.payloads, &from);
#endif
}

TEST_CASE("a full queue: a timed send_many reports timed_out with the exact count", "[batch][segments][unix]") {
    auto pair = socket_pair(Type::datagram);
    pair.first.set_send_buffer_size(4096);
    Batch b;
    b.add(64, nullptr, 2000);  // far more than the queue holds; one long same-size run
    auto out = b.datagrams();
    std::error_code ec;
    const std::size_t sent = send_many(pair.first, out.data(), out.size(), 100ms, ec);
    CHECK(ec == std::errc::timed_out);
    REQUIRE(sent > 0);
    REQUIRE(sent < out.size());
    expect_datagrams(pair.second, std::vector<std::string>(b.payloads.begin(), b.payloads.begin() + static_cast<std::ptrdiff_t>(sent)));
}

namespace {
// Receives count datagrams, pausing for a moment after every 64 as a busy peer does, so the
// sender meets a full queue, waits, and is let through again, many times per batch.
std::size_t read_with_pauses(Socket& s, std::size_t count) {
    char datagram[2048];
    std::size_t got = 0;
    while (got < count) {
        std::error_code ec;
        (void)s.recv(datagram, sizeof datagram, 30s, ec);
        if (ec) break;
        if (++got % 64 == 0) std::this_thread::sleep_for(1ms);  // load shaping, not synchronisation
    }
    return got;
}

template <class Send>
std::chrono::steady_clock::duration to_pausing_reader(Socket& receiver, std::size_t count, Send send) {
    auto reader = std::async(std::launch::async, [&] { return read_with_pauses(receiver, count); });
    auto start = std::chrono::steady_clock::now();
    std::error_code ec;
    std::size_t sent = send(ec);
    auto took = std::chrono::steady_clock::now() - start;
    std::size_t got = reader.get();
    CHECK_FALSE(ec);
    CHECK(sent == count);
    CHECK(got == count);
    return took;
}
}  // namespace

TEST_CASE("a timed send_many to a reader that pauses keeps up with one send per datagram (#23)", "[batch][throughput][unix]") {
    // Every wait here is followed by progress: a batch that backed off after its second "would
    // block" (1..64 ms of sleep before each later wait) crawled.
    auto pair = socket_pair(Type::datagram);
    Batch b;
    for (std::size_t i = 0; i < 4096; ++i) b.add(1000 + i % 7, nullptr);  // no same-size runs
    auto out = b.datagrams();
    using std::chrono::steady_clock;
    auto one_by_one = [&] {
        return to_pausing_reader(pair.second, out.size(), [&](std::error_code& ec) {
            std::size_t n = 0;
            for (; n < out.size() && !ec; ++n) (void)pair.first.send(out[n].data, 60s, ec);
            return ec ? n - 1 : n;
        });
    };
    steady_clock::duration reference = one_by_one();
    steady_clock::duration batched = to_pausing_reader(
        pair.second, out.size(), [&](std::error_code& ec) { return send_many(pair.first, out.data(), out.size(), 60s, ec); });
    steady_clock::duration again = one_by_one();  // the slower of two: the machine may be busy
    if (again > reference) reference = again;
    using ms = std::chrono::milliseconds;
    const steady_clock::duration floor = 50ms;
    INFO("send_many: " << std::chrono::duration_cast<ms>(batched).count() << " ms; one by one: "
                       << std::chrono::duration_cast<ms>(reference).count() << " ms");
    CHECK(batched <= 3 * (reference > floor ? reference : floor));
}
#endif

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

TEST_CASE("containers, braced lists and ReceiveSlots: batches without (pointer, count)", "[batch][forms]") {
    UdpPair p;
    const Address to = p.receiver.local_address();
    std::error_code ec;
    // A braced list, a vector, an array, with and without Timeout and error_code.
    CHECK(send_many(p.sender, {{"one", &to}, {"two", &to}}) == 2);
    std::vector<OutgoingDatagram> out = {{"three", &to}, {"four", &to}};
    CHECK(send_many(p.sender, out, 10s) == 2);
    CHECK(send_many(p.sender, out, ec) == 2);
    CHECK_FALSE(ec);
    std::array<OutgoingDatagram, 1> one = {{{"five", &to}}};
    CHECK(send_many(p.sender, one, 10s, ec) == 1);
    CHECK(send_many(p.sender, {{"six", &to}}, 10s, ec) == 1);
    CHECK(send_many(p.sender, {{"seven", &to}}, ec) == 1);
    CHECK_FALSE(ec);

    // Slots of 0 bytes are refused with a message that says so (they would fit any buffer).
    try {
        ReceiveSlots none(4, 0);
        FAIL("no exception");
    } catch (const std::system_error& e) {
        CHECK(std::string(e.what()).find("0 bytes hold no datagram") != std::string::npos);
        CHECK(e.code() == std::errc::invalid_argument);
    }
    ReceiveSlots slots(4, 16);
    CHECK(slots.size() == 4);
    CHECK(slots.slot_size() == 16);
    std::vector<std::string> got;
    while (got.size() < 9) {
        std::size_t n = recv_many(p.receiver, slots, 10s);
        REQUIRE(n > 0);
        REQUIRE(n <= slots.size());
        for (std::size_t i = 0; i < n; ++i) {
            CHECK(slots[i].sender == p.sender.local_address());
            CHECK_FALSE(slots[i].truncated);
            got.emplace_back(slots[i].received());
        }
    }
    CHECK(got == std::vector<std::string>{"one", "two", "three", "four", "three", "four", "five", "six", "seven"});
    // Slots are disjoint parts of one buffer: a full slot does not spill into the next.
    CHECK(send_many(p.sender, {{std::string(16, 'x'), &to}, {std::string(17, 'y'), &to}}, 10s) == 2);
    std::size_t n = 0;
    std::vector<IncomingDatagram> rest = {slots[0], slots[1]};  // copies: the same buffers
    while (n < 2) n += recv_many(p.receiver, rest.data() + n, 2 - n, 10s);
    CHECK(rest[0].received() == std::string(16, 'x'));
    CHECK_FALSE(rest[0].truncated);
    CHECK(rest[1].received() == std::string(16, 'y'));
    CHECK(rest[1].truncated);

    // make_receive_slots: a buffer of your own, carved in place.
    std::vector<char> buffer(3 * 8);
    std::vector<IncomingDatagram> carved = make_receive_slots(buffer, 3, 8);
    REQUIRE(carved.size() == 3);
    for (std::size_t i = 0; i < 3; ++i) {
        CHECK(carved[i].buffer.data == buffer.data() + i * 8);
        CHECK(carved[i].buffer.size == 8);
    }
    CHECK(send_many(p.sender, {{"carved", &to}}, 10s) == 1);
    CHECK(recv_many(p.receiver, carved, 10s, ec) == 1);
    CHECK_FALSE(ec);
    CHECK(carved[0].received() == "carved");
    CHECK(std::string(buffer.data(), 6) == "carved");
    CHECK_THROWS_AS(make_receive_slots(buffer, 4, 8), std::system_error);  // 32 bytes wanted, 24 there
    CHECK_THROWS_AS(make_receive_slots(buffer, 1, 0), std::system_error);
    ReceiveSlots moved = std::move(slots);
    CHECK(moved.size() == 4);
}
