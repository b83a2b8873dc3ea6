// Every operation on a moved-from object of every (non-TLS) type has a defined result: the
// not_open error (or the documented result), never a crash or a hang (#23).
#include <sockets/sockets.hpp>

#include <chrono>
#include <cstring>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include "catch.hpp"
#include "support.hpp"

using namespace sockets;
using namespace std::chrono_literals;

using Clock = std::chrono::steady_clock;

// The readers and writers borrow a stream and cannot be moved at all (message.hpp says why).
static_assert(!std::is_move_constructible_v<StreamReader> && !std::is_move_assignable_v<StreamReader>);
static_assert(!std::is_move_constructible_v<MessageWriter> && !std::is_move_assignable_v<MessageWriter>);

namespace {

// A socket that was moved from, once by construction and once by assignment.
Socket moved_from(bool by_assignment) {
    Socket original = Socket::tcp();
    Socket taker;
    if (by_assignment) taker = std::move(original);
    else Socket other(std::move(original));
    return original;  // NOLINT: the moved-from object is the point
}

}  // namespace

TEST_CASE("a moved-from Socket: every call is not_open, none touches a descriptor", "[moved_from][socket]") {
    for (bool by_assignment : {false, true}) {
        Socket s = moved_from(by_assignment);
        REQUIRE_FALSE(s.is_open());
        CHECK(s.native_handle() == Socket().native_handle());
        CHECK(s.release() == Socket().native_handle());
        std::vector<std::error_code> results;
        std::error_code ec;
        auto note = [&] { results.push_back(ec); };
        char c = 0;
        const Address somewhere = Address::parse("127.0.0.1:9");
        const Address group = Address::parse("239.1.2.3:0");

        s.bind(somewhere, ec), note();
        s.listen(ec), note();
        s.listen(5, ec), note();
        s.connect(somewhere, ec), note();
        s.connect(somewhere, 1s, ec), note();
        (void)s.start_connect(somewhere, ec), note();
        s.finish_connect(ec), note();
        Address remote;
        (void)s.accept(ec), note();
        (void)s.accept(remote, ec), note();
        (void)s.accept(1s, ec), note();
        (void)s.accept(remote, 1s, ec), note();
        (void)s.try_accept(&remote, ec), note();
        s.shutdown(Shutdown::both, ec), note();
        (void)s.send(&c, 1, ec), note();
        (void)s.send(&c, 1, 1s, ec), note();
        (void)s.recv(&c, 1, ec), note();
        (void)s.recv(&c, 1, 1s, ec), note();
        (void)s.send_all(&c, 1, ec), note();
        (void)s.send_all(&c, 1, 1s, ec), note();
        (void)s.recv_exact(&c, 1, ec), note();
        (void)s.recv_exact(&c, 1, 1s, ec), note();
        ConstBuffer pieces[2] = {{&c, 1}, {&c, 1}};
        (void)s.send_all_buffers(pieces, 2, ec), note();
        (void)s.send_all_buffers(pieces, 2, 1s, ec), note();
        (void)s.try_send(&c, 1, ec), note();
        (void)s.try_recv(&c, 1, ec), note();
        (void)s.send_to(somewhere, &c, 1, ec), note();
        (void)s.send_to(somewhere, &c, 1, 1s, ec), note();
        (void)s.recv_from(&c, 1, ec), note();
        (void)s.recv_from(&c, 1, 1s, ec), note();
        s.set_nonblocking(true, ec), note();
        (void)s.local_address(ec), note();
        (void)s.peer_address(ec), note();
        s.set_reuse_address(true, ec), note();
        s.set_no_delay(true, ec), note();
        s.set_keep_alive(true, ec), note();
        s.set_keep_alive(10s, 5s, 3, ec), note();
        s.set_send_buffer_size(4096, ec), note();
        s.set_receive_buffer_size(4096, ec), note();
        s.set_v6_only(true, ec), note();
        s.set_broadcast(true, ec), note();
        s.set_linger(std::chrono::seconds(1), ec), note();
        s.set_receive_timeout(1s, ec), note();
        s.set_send_timeout(1s, ec), note();
        s.join_multicast(group, 0, ec), note();
        s.leave_multicast(group, 0, ec), note();
        s.set_multicast_loop(true, Family::ipv4, ec), note();
        s.set_multicast_ttl(1, Family::ipv4, ec), note();
        s.set_multicast_interface(0, Family::ipv4, ec), note();
        s.set_option(SOL_SOCKET, SO_KEEPALIVE, 1, ec), note();
        int value = 0;
        (void)s.get_option(SOL_SOCKET, SO_TYPE, value, ec), note();
        s.prepare_listener(ListenOptions(), false, ec), note();
        (void)s.is_stream(ec), note();
        (void)s.graceful_close(1s, ec), note();
        OutgoingDatagram out{ConstBuffer(&c, 1), &somewhere};
        (void)send_many(s, &out, 1, ec), note();
        (void)send_many(s, &out, 1, 1s, ec), note();
        IncomingDatagram in;
        in.buffer = MutableBuffer(&c, 1);
        (void)recv_many(s, &in, 1, ec), note();
        (void)recv_many(s, &in, 1, 1s, ec), note();
        (void)send_message(s, "m", ec), note();
        (void)send_line(s, "l", ec), note();
        for (std::size_t i = 0; i < results.size(); ++i) {
            INFO("call " << i << ": " << results[i].message());
            CHECK(results[i] == errc::not_open);
        }
        // The throwing forms throw it; closing what is not open is no error (close twice is fine).
        CHECK_THROWS_AS(s.send_all(&c, 1), TransferError);
        CHECK_THROWS_AS(s.recv(&c, 1), TransferError);
        CHECK_THROWS_AS((void)s.no_delay(), std::system_error);
        CHECK_THROWS_AS(s.connect(somewhere), std::system_error);
        CHECK_THROWS_AS((void)s.accept(), std::system_error);
        try {  // no address to name: the message says what failed, without a dangling "on"
            (void)s.accept();
        } catch (const std::system_error& e) {
            CHECK(std::string(e.what()) == "accept: " + make_error_code(errc::not_open).message());
        }
        s.close(ec);
        CHECK_FALSE(ec);
        // A moved-from socket takes a new one by assignment and is fully usable again.
        s = Socket::tcp();
        CHECK(s.is_open());
        s.bind(Address::loopback(Family::ipv4), ec);
        CHECK_FALSE(ec);
    }
}

TEST_CASE("the framing layer over a moved-from Socket: not_open, nothing lost or crashed", "[moved_from][message]") {
    Socket s = moved_from(false);
    std::error_code ec;
    StreamReader reader(s);
    (void)reader.read_line(ec);
    CHECK(ec == errc::not_open);
    (void)reader.read_message(1s, ec);
    CHECK(ec == errc::not_open);
    char c = 0;
    (void)reader.read_exact(&c, 1, ec);
    CHECK(ec == errc::not_open);
    (void)reader.read_some(&c, 1, ec);
    CHECK(ec == errc::not_open);
    CHECK(reader.fill(ec) == FillResult::would_block);
    CHECK(ec == errc::not_open);
    CHECK_THROWS_AS(reader.read_line(), std::system_error);
    {
        MessageWriter writer(s);
        writer.write_message("queued", ec);
        CHECK_FALSE(ec);  // below the batch size: only queued
        writer.flush(ec);
        CHECK(ec == errc::not_open);
        CHECK(writer.pending() == 4 + 6);  // kept, as after any failed flush
    }  // the destructor's flush fails quietly
}

TEST_CASE("a moved-from MessageBuffer is empty, keeps its limit and stays usable", "[moved_from][message]") {
    MessageBuffer original(100);
    original.feed("one\ntw", 6);
    std::error_code ec;
    REQUIRE(original.next_line(ec).value_or("") == "one");
    MessageBuffer taker(std::move(original));
    CHECK(taker.buffered() == "tw");
    CHECK(original.size() == 0);  // NOLINT: testing the moved-from state
    CHECK(original.buffered().empty());
    CHECK(original.capacity() == 0);
    CHECK(original.max_message() == 100);
    CHECK_FALSE(original.next_line(ec));
    CHECK_FALSE(ec);
    CHECK_FALSE(original.next_message(ec));
    CHECK_FALSE(ec);
    original.consume(5);
    original.feed("again\n", 6);
    CHECK(original.next_line(ec).value_or("") == "again");
    std::memcpy(original.prepare(3), "ab\n", 3);
    original.commit(3);
    CHECK(original.next_line(ec).value_or("") == "ab");

    MessageBuffer assigned(50);
    assigned.feed("x", 1);
    assigned = std::move(taker);
    CHECK(assigned.buffered() == "tw");
    CHECK(assigned.max_message() == 100);
    CHECK(taker.size() == 0);  // NOLINT
    taker.feed("o\n", 2);
    CHECK(taker.next_line(ec).value_or("") == "o");
    MessageBuffer& same = assigned;
    assigned = std::move(same);  // self-move keeps the content
    CHECK(assigned.buffered() == "tw");
}

namespace {
template <class P>
void moved_from_poller() {
    auto p = test::tcp_pair();
    P original;
    original.add(p.server, Events::readable, 7);
    P taker(std::move(original));
    std::error_code ec;
    // The moved-from poller: not_open for everything, at once, also for a wait without a
    // deadline that nothing could ever end.
    CHECK(original.size() == 0);  // NOLINT: testing the moved-from state
    original.wake();
    original.add(p.client, Events::readable, 1, ec);
    CHECK(ec == errc::not_open);
    original.modify(p.server, Events::writable, 2, ec);
    CHECK(ec == errc::not_open);
    original.remove(p.server, ec);
    CHECK(ec == errc::not_open);
    auto start = Clock::now();
    CHECK(original.wait(2s, ec).empty());
    CHECK(ec == errc::not_open);
    CHECK(original.wait(ec).empty());
    CHECK(ec == errc::not_open);
    CHECK(Clock::now() - start < 1s);
    CHECK_THROWS_AS(original.wait(), std::system_error);
    CHECK_THROWS_AS(original.add(p.client, Events::readable, 1), std::system_error);

    // The registration went with the move.
    p.client.send_all("x");
    auto ready = taker.wait(10s);
    REQUIRE(ready.size() == 1);
    CHECK(ready.front().token == 7);
    P assigned;
    assigned = std::move(taker);
    CHECK(assigned.size() == 1);
    CHECK(assigned.wait(10s).front().token == 7);
    taker.modify(p.server, Events::readable, 3, ec);  // NOLINT
    CHECK(ec == errc::not_open);
    // Assigned a new poller, the moved-from one works again.
    original = P();
    original.add(p.server, Events::readable, 9);
    CHECK(original.wait(10s).front().token == 9);
}
}  // namespace

TEST_CASE("a moved-from poller (every backend) fails every call with not_open, never hangs", "[moved_from][poller]") {
    SECTION("select") { moved_from_poller<SelectPoller>(); }
    SECTION("poll") { moved_from_poller<PollPoller>(); }
#if defined(SOCKETS_HAS_EPOLL)
    SECTION("epoll") { moved_from_poller<EpollPoller>(); }
#endif
}

TEST_CASE("moved-from values keep their value: Address, ConnectError, TransferError, Delimiter", "[moved_from]") {
    Address a = Address::parse("192.0.2.1:80");
    Address b(std::move(a));
    CHECK(a == b);  // NOLINT: an Address is a value; moving copies it
    CHECK(a.to_string() == "192.0.2.1:80");

    ConnectError original(make_error_code(std::errc::timed_out), "connect x",
                          {{b, make_error_code(std::errc::connection_refused)}});
    ConnectError taker(std::move(original));
    CHECK(original.attempts().size() == 1);  // NOLINT: shares the attempts, as a copy does
    CHECK(std::string(original.what()) == "connect x: " + make_error_code(std::errc::timed_out).message());
    ConnectError assigned(make_error_code(std::errc::invalid_argument), "other", {});
    assigned = std::move(taker);
    CHECK(taker.attempts().size() == 1);  // NOLINT
    CHECK(assigned.attempts().size() == 1);

    TransferError t(make_error_code(std::errc::broken_pipe), "send_all", 3);
    TransferError moved(std::move(t));
    CHECK(t.bytes_transferred() == 3);  // NOLINT
    CHECK(moved.code() == std::errc::broken_pipe);

    Delimiter d("--");
    Delimiter e(std::move(d));
    CHECK(d.text() == "--");  // NOLINT
    CHECK(e.max_size() == 2);
}
