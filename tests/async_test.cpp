// EventLoop and Task (C++20): real loopback sockets, one loop thread.
#include <sockets/async.hpp>
#include <sockets/sockets.hpp>

#include <atomic>
#include <chrono>
#include <cstring>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "catch.hpp"
#include "support.hpp"

using namespace sockets;
using namespace std::chrono_literals;

namespace {

// Generous hang guards only: a test that needs them has failed already.
constexpr auto guard = 20s;

Task<int> answer() { co_return 42; }
Task<int> twice() { co_return 2 * co_await answer(); }
Task<int> fails() {
    throw std::runtime_error("inner");
    co_return 0;
}
Task<void> nothing() { co_return; }

// Runs body as the loop's only task and the loop until it ends; rethrows its exception.
template <class Body>
void run_task(EventLoop& loop, Body body) {
    std::exception_ptr error;
    loop.set_exception_handler([&](std::exception_ptr e) { error = e; });
    loop.spawn(body());
    loop.run();
    loop.set_exception_handler(nullptr);
    if (error) std::rethrow_exception(error);
}

std::error_code transfer_code(const std::exception_ptr& e) {
    try {
        std::rethrow_exception(e);
    } catch (const TransferError& t) {
        return t.code();
    } catch (...) {
    }
    return {};
}

}  // namespace

TEST_CASE("a Task yields its value, or rethrows its exception to the awaiter", "[async][task]") {
    EventLoop loop;
    int got = 0;
    std::string caught;
    run_task(loop, [&]() -> Task<void> {
        got = co_await twice();
        try {
            co_await fails();
        } catch (const std::runtime_error& e) {
            caught = e.what();
        }
    });
    CHECK(got == 84);
    CHECK(caught == "inner");
}

TEST_CASE("a Task is lazy: nothing runs until it is awaited", "[async][task]") {
    bool ran = false;
    auto body = [&]() -> Task<void> {
        ran = true;
        co_return;
    };
    { Task<void> t = body(); }
    CHECK_FALSE(ran);
}

TEST_CASE("a million tasks finishing at once do not grow the stack (symmetric transfer)", "[async][task]") {
    EventLoop loop;
    long sum = 0;
    run_task(loop, [&]() -> Task<void> {
        for (int i = 0; i < 1000000; ++i) {
            co_await nothing();
            sum += co_await answer();
        }
    });
    CHECK(sum == 42000000L);
}

TEST_CASE("an exception escaping a spawned task goes to the handler; the loop and the others go on",
          "[async][spawn]") {
    EventLoop loop;
    std::vector<std::string> errors;
    loop.set_exception_handler([&](std::exception_ptr e) {
        try {
            std::rethrow_exception(e);
        } catch (const std::exception& x) {
            errors.push_back(x.what());
        }
    });
    int finished = 0;
    auto failing = [&](int i) -> Task<void> {
        co_await loop.sleep(1ms * i);
        throw std::runtime_error("task " + std::to_string(i));
    };
    auto fine = [&]() -> Task<void> {
        co_await loop.sleep(5ms);
        ++finished;
    };
    loop.spawn(failing(1));
    loop.spawn(fine());
    loop.spawn(failing(2));
    loop.spawn(fine());
    loop.run();
    CHECK(finished == 2);
    REQUIRE(errors.size() == 2);
    CHECK(errors[0] == "task 1");
    CHECK(errors[1] == "task 2");
    CHECK(loop.tasks() == 0);
}

TEST_CASE("10,000 tasks sleeping and yielding all finish, timers in order", "[async][spawn]") {
    EventLoop loop;
    int finished = 0;
    std::vector<int> order;
    auto sleeper = [&](int i) -> Task<void> {
        co_await loop.sleep(0ms);  // a yield
        co_await loop.sleep(std::chrono::microseconds((i * 7919) % 20000));
        co_await loop.sleep(0ms);
        ++finished;
    };
    for (int i = 0; i < 10000; ++i) loop.spawn(sleeper(i));
    auto ordered = [&](int i) -> Task<void> {
        co_await loop.sleep(std::chrono::milliseconds(30 - i));
        order.push_back(i);
    };
    for (int i = 0; i < 5; ++i) loop.spawn(ordered(i));
    CHECK(loop.tasks() == 10005);
    loop.run();
    CHECK(finished == 10000);
    CHECK(order == std::vector<int>{4, 3, 2, 1, 0});
    CHECK(loop.tasks() == 0);
}

TEST_CASE("echo over loopback: accept, connect, recv, send_all, recv_exact", "[async][transfer]") {
    EventLoop loop;
    Socket listener = listen_on(Address::loopback(Family::ipv4, 0));
    const std::vector<unsigned char> data = test::pattern(4 << 20);  // far beyond socket buffers
    std::vector<unsigned char> echoed(data.size());
    std::size_t sent = 0, received = 0;
    auto server = [&]() -> Task<void> {
        Address remote;
        Socket client = co_await loop.accept(listener, &remote, guard);
        CHECK(remote.port() != 0);
        std::vector<unsigned char> buffer(65536);
        for (;;) {
            std::size_t n = co_await loop.recv(client, buffer.data(), buffer.size(), guard);
            if (n == 0) co_return;
            co_await loop.send_all(client, buffer.data(), n, guard);
        }
    };
    auto writer = [&](Socket& s) -> Task<void> {
        sent = co_await loop.send_all(s, data.data(), data.size(), guard);
        s.shutdown(Shutdown::write);
    };
    auto client = [&]() -> Task<void> {
        Socket s = co_await loop.connect(listener.local_address(), guard);
        loop.spawn(writer(s));
        received = co_await loop.recv_exact(s, echoed.data(), echoed.size(), guard);
        char extra;
        std::size_t end = co_await loop.recv(s, &extra, 1, guard);
        CHECK(end == 0);  // the server closed after the echo
    };
    loop.spawn(server());
    loop.spawn(client());
    loop.run();
    CHECK(sent == data.size());
    CHECK(received == data.size());
    CHECK(echoed == data);
}

TEST_CASE("a recv after one that drained the socket: waits for the report, yet loses nothing", "[async][transfer]") {
    // After a short read the loop waits for readiness before the next recv (no recv that would
    // only say EAGAIN). Data that came in between must still be delivered, at once, and a
    // deadline already due must still make its one attempt.
    EventLoop loop;
    test::TcpPair p = test::tcp_pair();
    char buffer[16];
    // Under the fault stage a read may be cut short: a short first read is topped up with
    // recv_exact, so each step still sees exactly the bytes it sent.
    auto top_up = [&](std::size_t n, std::size_t want) -> Task<std::size_t> {
        if (n > 0 && n < want) n += co_await loop.recv_exact(p.client, buffer + n, want - n, guard);
        co_return n;
    };
    run_task(loop, [&]() -> Task<void> {
        p.server.send_all("ab", 2);
        // (Each await outside the CHECK: mingw-w64 g++ 12 mishandles a co_await inside Catch's
        // try block, and the awaits then time out under wine.)
        std::size_t n = co_await loop.recv(p.client, buffer, sizeof buffer, guard);
        n = co_await top_up(n, 2);
        CHECK(n == 2);  // short: drained
        p.server.send_all("cd", 2);
        co_await loop.readable(p.client, guard);  // "cd" is there
        std::error_code ec;
        n = co_await loop.recv(p.client, buffer, sizeof buffer, Timeout::zero(), ec);
        CHECK_FALSE(ec);  // due at once: one attempt all the same, which finds "cd"
        n = co_await top_up(n, 2);
        CHECK(std::string(buffer, n) == "cd");
        n = co_await loop.recv(p.client, buffer, sizeof buffer, Timeout::zero(), ec);
        CHECK(ec == std::errc::timed_out);  // nothing there: the one attempt would block
        p.server.send_all("ef", 2);
        n = co_await loop.recv(p.client, buffer, sizeof buffer, guard);  // after a timed-out try
        n = co_await top_up(n, 2);
        CHECK(std::string(buffer, n) == "ef");
        p.server.send_all(std::string(16, 'x').data(), 16);
        p.server.send_all("gh", 2);
        n = co_await loop.recv_exact(p.client, buffer, 16, guard);
        CHECK(n == 16);
        n = co_await loop.recv(p.client, buffer, sizeof buffer, guard);
        n = co_await top_up(n, 2);
        CHECK(std::string(buffer, n) == "gh");
        p.server.shutdown(Shutdown::write);
        n = co_await loop.recv(p.client, buffer, sizeof buffer, guard);
        CHECK(n == 0);  // the end, reported
    });
}

TEST_CASE("a timeout ends only its own await: timed_out, both forms", "[async][timeout]") {
    EventLoop loop;
    test::TcpPair p = test::tcp_pair();
    char byte = 0;
    std::error_code ec;
    std::size_t n = 99;
    std::exception_ptr thrown;
    bool other_done = false;
    auto other = [&]() -> Task<void> {  // waits longer on the same socket's other direction
        std::error_code e;
        co_await loop.readable(p.client, 2s, e);
        other_done = !e;
    };
    run_task(loop, [&]() -> Task<void> {
        loop.spawn(other());
        auto t0 = std::chrono::steady_clock::now();
        n = co_await loop.recv(p.server, &byte, 1, 30ms, ec);
        CHECK(std::chrono::steady_clock::now() - t0 >= 30ms);
        try {
            co_await loop.recv(p.server, &byte, 1, 10ms);
        } catch (...) {
            thrown = std::current_exception();
        }
        std::size_t one = co_await loop.send(p.server, "x", 1, 0ms);
        CHECK(one == 1);  // zero: one attempt, which works
        std::error_code zero;
        co_await loop.recv_exact(p.server, &byte, 1, 0ms, zero);  // zero: one attempt, then timed_out
        CHECK(zero == std::errc::timed_out);
    });
    CHECK(ec == std::errc::timed_out);
    CHECK(n == 0);
    CHECK(transfer_code(thrown) == std::errc::timed_out);
    CHECK(other_done);  // the byte sent to p.client woke it; the timeouts did not end it
}

TEST_CASE("send_all and recv_exact count the bytes that moved before a timeout or the end",
          "[async][transfer]") {
    EventLoop loop;
    test::TcpPair p = test::tcp_pair();
    std::vector<unsigned char> big(64 << 20);
    std::size_t sent = 0;
    std::error_code sent_ec;
    std::size_t thrown_bytes = 0;
    std::error_code thrown_code;
    std::vector<unsigned char> in(100);
    std::size_t got = 0;
    std::error_code got_ec;
    run_task(loop, [&]() -> Task<void> {
        sent = co_await loop.send_all(p.client, big.data(), big.size(), 100ms, sent_ec);  // nobody reads
        p.server.send_all("hello", 5);
        p.server.shutdown(Shutdown::write);
        try {
            co_await loop.recv_exact(p.client, in.data(), in.size(), guard);
        } catch (const TransferError& e) {
            thrown_bytes = e.bytes_transferred();
            thrown_code = e.code();
        }
    });
    CHECK(sent_ec == std::errc::timed_out);
    CHECK(sent > 0);
    CHECK(sent < big.size());
    CHECK(thrown_code == errc::end_of_stream);
    CHECK(thrown_bytes == 5);
    (void)got;
    (void)got_ec;
}

TEST_CASE("a peer that resets mid-await wakes the waiter with the error", "[async][reset]") {
    EventLoop loop;
    test::TcpPair p = test::tcp_pair();
    std::error_code recv_ec, send_ec;
    std::exception_ptr thrown;
    auto resetter = [&]() -> Task<void> {
        co_await loop.sleep(0ms);  // the others wait first
        co_await loop.sleep(0ms);
        p.server.set_linger(0s);
        p.server.close();  // RST
    };
    run_task(loop, [&]() -> Task<void> {
        loop.spawn(resetter());
        char buffer[16];
        co_await loop.recv(p.client, buffer, sizeof buffer, guard, recv_ec);
        std::vector<unsigned char> big(32 << 20);
        co_await loop.send_all(p.client, big.data(), big.size(), guard, send_ec);
        try {
            co_await loop.recv_exact(p.client, buffer, sizeof buffer, guard);
        } catch (...) {
            thrown = std::current_exception();
        }
    });
    if (test::running_under_wine() && !recv_ec)
        WARN("wine does not turn SO_LINGER 0 into a reset (an orderly end); real Windows and Linux do");
    else
        CHECK(recv_ec == std::errc::connection_reset);
    CHECK(send_ec);
    CHECK(thrown);
}

TEST_CASE("loop.close wakes a task waiting on the socket with operation_canceled", "[async][close]") {
    EventLoop loop;
    test::TcpPair p = test::tcp_pair();
    std::error_code reader_ec, accept_ec;
    std::exception_ptr thrown;
    auto reader = [&]() -> Task<void> {
        char c;
        co_await loop.recv(p.client, &c, 1, guard, reader_ec);
    };
    auto acceptor = [&]() -> Task<void> {
        try {
            Socket s = co_await loop.accept(p.listener, guard);
        } catch (...) {
            thrown = std::current_exception();
        }
    };
    run_task(loop, [&]() -> Task<void> {
        loop.spawn(reader());
        loop.spawn(acceptor());
        co_await loop.sleep(0ms);
        co_await loop.sleep(0ms);
        loop.close(p.client);
        loop.close(p.listener);
    });
    CHECK(reader_ec == std::errc::operation_canceled);
    REQUIRE(thrown);
    try {
        std::rethrow_exception(thrown);
    } catch (const std::system_error& e) {
        CHECK(e.code() == std::errc::operation_canceled);
        CHECK(std::string(e.what()).rfind("accept: ", 0) == 0);  // the listener is closed: no address to name
    }
    CHECK_FALSE(p.client.is_open());
}

TEST_CASE("a second reader of one socket is refused, not lost", "[async][close]") {
    EventLoop loop;
    test::TcpPair p = test::tcp_pair();
    std::error_code second;
    auto first = [&]() -> Task<void> {
        char c;
        std::error_code e;
        co_await loop.recv(p.client, &c, 1, guard, e);
    };
    run_task(loop, [&]() -> Task<void> {
        loop.spawn(first());
        co_await loop.sleep(0ms);
        char c;
        co_await loop.recv(p.client, &c, 1, guard, second);
        p.server.send_all("x", 1);
    });
    CHECK(second == std::errc::operation_in_progress);
}

TEST_CASE("exceptions from every kind of await reach the awaiter", "[async][errors]") {
    EventLoop loop;
    Socket closed;
    Socket refusing = test::refusing_port();
    Address refused = refusing.local_address();
    std::vector<std::string> what;
    run_task(loop, [&]() -> Task<void> {
        auto expect = [&](auto awaitable_factory) -> Task<void> {
            try {
                co_await awaitable_factory();
                what.push_back("no exception");
            } catch (const std::system_error& e) {
                what.push_back(e.what());
            }
        };
        char c;
        co_await expect([&] { return loop.accept(closed, 1s); });
        co_await expect([&] { return loop.recv(closed, &c, 1, 1s); });
        co_await expect([&] { return loop.send(closed, &c, 1, 1s); });
        co_await expect([&] { return loop.send_all(closed, &c, 1, 1s); });
        co_await expect([&] { return loop.recv_exact(closed, &c, 1, 1s); });
        co_await expect([&] { return loop.readable(closed, 1s); });
        co_await expect([&] { return loop.writable(closed, 1s); });
        co_await expect([&] { return loop.connect(refused, guard); });
        co_await expect([&] { return loop.connect("127.0.0.1", refused.port(), guard); });
        co_await expect([&] { return loop.connect("name.invalid", 80, guard); });
    });
    REQUIRE(what.size() == 10);
    for (const auto& w : what) CHECK(w != "no exception");
    CHECK(what[1].find("recv") != std::string::npos);
    CHECK(what[7].find("connect 127.0.0.1:") != std::string::npos);
    CHECK(what[9].find("name.invalid") != std::string::npos);
}

TEST_CASE("connect by host name resolves off the loop and connects", "[async][connect]") {
    EventLoop loop;
    Socket listener = listen_on(Address::loopback(Family::ipv4, 0));
    int port = listener.local_address().port();
    bool ticked = false;
    Socket connected;
    auto ticker = [&]() -> Task<void> {
        co_await loop.sleep(0ms);
        ticked = true;
    };
    run_task(loop, [&]() -> Task<void> {
        loop.spawn(ticker());
        connected = co_await loop.connect("localhost", port, guard);
    });
    CHECK(connected.is_open());
    CHECK(connected.peer_address().port() == port);
    CHECK(ticked);
}

TEST_CASE("connect by host name throws what connect_to throws: every attempt, the same text", "[async][connect]") {
    // Found by an independent review: the loop's ConnectError had no attempts and no address.
    Socket closed_port = test::refusing_port();
    const int port = closed_port.local_address().port();
    std::string blocking_what;
    std::vector<ConnectAttempt> blocking_attempts;
    try {
        (void)connect_to("127.0.0.1", port, guard);
    } catch (const ConnectError& e) {
        blocking_what = e.what();
        blocking_attempts = e.attempts();
    }
    REQUIRE_FALSE(blocking_what.empty());
    for (const char* host : {"127.0.0.1", "no-such-host.invalid"}) {
        EventLoop loop;
        std::string what;
        std::size_t attempts = 99;
        std::error_code code;
        run_task(loop, [&]() -> Task<void> {
            try {
                (void)co_await loop.connect(host, port, guard);
            } catch (const ConnectError& e) {
                what = e.what();
                attempts = e.attempts().size();
                code = e.code();
            }
        });
        INFO(host << ": " << what);
        if (std::string(host) == "127.0.0.1") {
            CHECK(what == blocking_what);
            REQUIRE(attempts == blocking_attempts.size());
            CHECK(attempts == 1);
            CHECK(code == std::errc::connection_refused);
        } else {
            CHECK(attempts == 0);  // nothing to try: the name did not resolve
            CHECK(what.rfind("connect no-such-host.invalid:", 0) == 0);
        }
    }
}

TEST_CASE("a timer due in the same wait as a completed transfer: the transfer wins, both resume",
          "[async][timeout]") {
    EventLoop loop;
    test::TcpPair p = test::tcp_pair();
    std::error_code ec;
    std::size_t n = 0;
    bool slept = false;
    auto reader = [&]() -> Task<void> {
        char buffer[8];
        n = co_await loop.recv(p.client, buffer, sizeof buffer, 20ms, ec);
    };
    auto sleeper = [&]() -> Task<void> {
        co_await loop.sleep(5ms);
        slept = true;
    };
    run_task(loop, [&]() -> Task<void> {
        loop.spawn(reader());
        loop.spawn(sleeper());
        co_await loop.sleep(0ms);  // both wait now
        p.server.send_all("data", 4);
        std::this_thread::sleep_for(40ms);  // blocks the loop: both deadlines pass, data is there
    });
    CHECK_FALSE(ec);
    CHECK(n >= 1);  // what one recv takes (all 4 bytes, unless a short transfer is injected)
    CHECK(slept);
}

TEST_CASE("destroying the loop destroys its tasks, ready or waiting: sockets close, nothing leaks",
          "[async][lifetime]") {
    int before = test::open_descriptors();
    bool destroyed_ready = false, destroyed_waiting = false;
    {
        struct Flag {
            bool* flag;
            ~Flag() { *flag = true; }
        };
        EventLoop loop;
        test::TcpPair p = test::tcp_pair();
        auto ready = [&]() -> Task<void> {
            Flag f{&destroyed_ready};
            Socket mine = std::move(p.client);
            char c;
            co_await loop.recv(mine, &c, 1, guard);
            FAIL("resumed after the loop stopped");
        };
        auto waiting = [&]() -> Task<void> {
            Flag f{&destroyed_waiting};
            Socket listener = listen_on(Address::loopback(Family::ipv4, 0));
            Socket s = co_await loop.accept(listener, guard);
        };
        auto stopper = [&]() -> Task<void> {
            co_await loop.sleep(0ms);
            p.server.send_all("x", 1);  // ready's socket is readable in the next wait...
            loop.stop();                // ...which the stop's wake-up ends at once
            co_await loop.sleep(guard);
        };
        loop.spawn(ready());
        loop.spawn(waiting());
        loop.spawn(stopper());
        loop.run();
        CHECK(loop.tasks() == 3);
        CHECK_FALSE(destroyed_ready);
    }
    CHECK(destroyed_ready);
    CHECK(destroyed_waiting);
    if (before >= 0) CHECK(test::open_descriptors() == before);
}

TEST_CASE("stop() from another thread ends run(), however it races with it", "[async][stop]") {
    for (int round = 0; round < 200; ++round) {
        EventLoop loop;
        auto forever = [&]() -> Task<void> { co_await loop.sleep(Timeout::max()); };
        loop.spawn(forever());
        std::atomic<bool> started{false};
        std::thread stopper([&] {
            while (round % 2 == 0 && !started.load()) std::this_thread::yield();
            loop.stop();
        });
        started = true;
        loop.run();  // returns: the stop landed before, during or after the first wait
        stopper.join();
        CHECK(loop.tasks() == 1);
    }
}

TEST_CASE("one stop() ends one run(): a stop before run makes it return at once", "[async][stop]") {
    EventLoop loop;
    int steps = 0;
    auto counter = [&]() -> Task<void> {
        for (;;) {
            ++steps;
            co_await loop.sleep(0ms);
        }
    };
    loop.spawn(counter());
    loop.stop();
    loop.run();
    CHECK(steps == 0);
    auto stopper = [&]() -> Task<void> {
        co_await loop.sleep(5ms);
        loop.stop();
    };
    loop.spawn(stopper());
    loop.run();
    CHECK(steps > 0);
}

TEST_CASE("many connections on one loop: 500 echo clients", "[async][scale]") {
    EventLoop loop;
    Socket listener = listen_on(Address::loopback(Family::ipv4, 0));
    constexpr int clients = 500;
    int served = 0, checked = 0;
    auto serve = [&](Socket s) -> Task<void> {
        char buffer[64];
        for (;;) {
            std::size_t n = co_await loop.recv(s, buffer, sizeof buffer, guard);
            if (n == 0) break;
            co_await loop.send_all(s, buffer, n, guard);
        }
        ++served;
    };
    auto acceptor = [&]() -> Task<void> {
        for (int i = 0; i < clients; ++i) loop.spawn(serve(co_await loop.accept(listener, guard)));
    };
    auto client = [&](int i) -> Task<void> {
        Socket s = co_await loop.connect(listener.local_address(), guard);
        for (int round = 0; round < 10; ++round) {
            std::string msg = "client " + std::to_string(i) + " round " + std::to_string(round);
            msg.resize(32, '.');
            char back[32];
            co_await loop.send_all(s, msg.data(), msg.size(), guard);
            co_await loop.recv_exact(s, back, sizeof back, guard);
            if (std::memcmp(back, msg.data(), sizeof back) == 0) ++checked;
        }
    };
    loop.spawn(acceptor());
    for (int i = 0; i < clients; ++i) loop.spawn(client(i));
    loop.run();
    CHECK(checked == clients * 10);
    CHECK(served == clients);
}

TEST_CASE("lines and length-prefixed messages over the loop, with the framing layer's limits",
          "[async][framing]") {
    EventLoop loop;
    test::TcpPair p = test::tcp_pair();
    std::vector<std::string> lines, messages;
    std::error_code too_long, ended;
    std::size_t frame = 0;
    auto writer = [&]() -> Task<void> {
        co_await loop.write_line(p.client, "first");
        co_await loop.write_line(p.client, "second", guard, "\r\n");
        frame = co_await loop.write_message(p.client, "payload");
        co_await loop.write_message(p.client, std::string(300, 'x'), guard, Prefix::u16);
        co_await loop.write_line(p.client, std::string(100, 'y'));
        p.client.shutdown(Shutdown::write);
    };
    run_task(loop, [&]() -> Task<void> {
        loop.spawn(writer());
        MessageBuffer buffer(64);
        lines.emplace_back(co_await loop.read_line(p.server, buffer, guard));
        lines.emplace_back(co_await loop.read_line(p.server, buffer, guard));
        messages.emplace_back(co_await loop.read_message(p.server, buffer, guard));
        std::error_code ec;
        co_await loop.read_message(p.server, buffer, guard, too_long, Prefix::u16);
        buffer.consume(buffer.size());
        MessageBuffer rest(1000);
        // The 300-byte message's remainder, then the line: skip to the y's.
        for (;;) {
            std::string_view line = co_await loop.read_line(p.server, rest, guard, ec);
            if (ec || line.find('y') != std::string_view::npos) break;
        }
        co_await loop.read_line(p.server, rest, guard, ended);
    });
    REQUIRE(lines.size() == 2);
    CHECK(lines[0] == "first");
    CHECK(lines[1] == "second");
    CHECK(messages == std::vector<std::string>{"payload"});
    CHECK(frame == 4 + 7);
    CHECK(too_long == errc::message_too_large);
    CHECK(ended == errc::end_of_stream);
}

TEST_CASE("graceful_close on the loop: the peer's close ends it, or the timeout", "[async][close]") {
    EventLoop loop;
    test::TcpPair p = test::tcp_pair();
    test::TcpPair q = test::tcp_pair();
    CloseResult polite, impatient;
    auto peer = [&]() -> Task<void> {
        char buffer[64];
        std::size_t hello = co_await loop.recv_exact(p.server, buffer, 5, guard);
        std::size_t fin = co_await loop.recv(p.server, buffer, sizeof buffer, guard);  // our FIN
        CHECK(hello == 5);
        CHECK(fin == 0);
        co_await loop.send_all(p.server, "bye", 3, guard);
        p.server.close();
    };
    run_task(loop, [&]() -> Task<void> {
        loop.spawn(peer());
        co_await loop.send_all(p.client, "hello", 5, guard);
        polite = co_await loop.graceful_close(p.client, guard);
        impatient = co_await loop.graceful_close(q.client, 20ms);  // q.server never closes
    });
    CHECK(polite.ending == CloseResult::peer_closed);
    CHECK(polite.discarded == 3);
    CHECK_FALSE(p.client.is_open());
    CHECK(impatient.ending == CloseResult::timed_out);
    CHECK_FALSE(q.client.is_open());
}

TEST_CASE("a plain close() by another task wakes the waiter with an error, at once", "[async][close]") {
    EventLoop loop;
    test::TcpPair p = test::tcp_pair();
    std::error_code reader_ec;
    std::exception_ptr thrown;
    auto reader = [&]() -> Task<void> {
        char c;
        co_await loop.recv(p.client, &c, 1, guard, reader_ec);
    };
    auto acceptor = [&]() -> Task<void> {
        try {
            Socket s = co_await loop.accept(p.listener, guard);
        } catch (...) {
            thrown = std::current_exception();
        }
    };
    auto start = std::chrono::steady_clock::now();
    run_task(loop, [&]() -> Task<void> {
        loop.spawn(reader());
        loop.spawn(acceptor());
        co_await loop.sleep(0ms);
        co_await loop.sleep(0ms);
        p.client.close();  // not loop.close: the loop hears of it all the same
        p.listener = Socket();
        // The descriptor numbers come back at once: a new socket under the old number,
        // awaited in the same object, is not mistaken for the old one.
        test::TcpPair q = test::tcp_pair();
        p.client = std::move(q.client);
        q.server.send_all("y", 1);
        char c = 0;
        std::error_code again;
        co_await loop.recv(p.client, &c, 1, guard, again);
        CHECK_FALSE(again);
        CHECK(c == 'y');
    });
    CHECK(std::chrono::steady_clock::now() - start < guard / 2);
    CHECK(reader_ec == std::errc::operation_canceled);
    REQUIRE(thrown);
    try {
        std::rethrow_exception(thrown);
    } catch (const std::system_error& e) {
        CHECK(e.code() == std::errc::operation_canceled);
    }
}

#if defined(SOCKETS_TEST_ASYNC_TLS)
// ---- TLS on the loop (with OpenSSL; certificates as tls_test makes them) -----------------------
#include <sockets/tls.hpp>

#include <cstdlib>
#include <fstream>

namespace {

std::string tls_file(const std::string& name) {
    static const std::string dir = [] {
        std::string d = SOCKETS_TLS_CERT_DIR;
        if (!std::ifstream(d + "/linklocal.pem")) {
            std::string command = std::string(SOCKETS_TLS_MAKE_CERTS) + " " + d + " >/dev/null";
            if (std::system(command.c_str()) != 0) throw std::runtime_error("make-certs.sh failed");
        }
        return d;
    }();
    return dir + "/" + name;
}
TlsContext tls_server_context() { return TlsContext::server(tls_file("server.pem"), tls_file("server.key")); }
TlsContext tls_client_context() {
    TlsContext c = TlsContext::client();
    c.load_verify_file(tls_file("ca.pem"));
    return c;
}

}  // namespace

TEST_CASE("TLS on the loop: handshakes, transfers past the socket buffers, framing, polite close", "[async][tls]") {
    EventLoop loop;
    Socket listener = listen_on(Address::loopback(Family::ipv4, 0));
    TlsContext server_context = tls_server_context();
    TlsContext client_context = tls_client_context();
    const auto bulk = test::pattern(4u << 20, 7);
    std::error_code server_ec, client_ec, server_close_ec, client_close_ec;
    std::string line, message, subject;
    std::vector<unsigned char> echoed(bulk.size());
    CloseResult server_close, client_close;
    auto server = [&]() -> Task<void> {
        Socket s = co_await loop.accept(listener, guard);
        TlsStream tls = co_await loop.tls_accept(std::move(s), server_context, guard, server_ec);
        if (server_ec) co_return;
        MessageBuffer buffer;
        std::string_view got = co_await loop.read_line(tls, buffer, guard, server_ec);
        if (server_ec) co_return;
        co_await loop.write_line(tls, "echo: " + std::string(got), guard, server_ec);
        got = co_await loop.read_message(tls, buffer, guard, server_ec);
        if (server_ec) co_return;
        co_await loop.write_message(tls, got, guard, server_ec);
        // What the framing reads may have taken of the bulk comes first.
        std::vector<unsigned char> in(bulk.size());
        std::string_view early = buffer.buffered();
        std::memcpy(in.data(), early.data(), early.size());
        co_await loop.recv_exact(tls, in.data() + early.size(), in.size() - early.size(), guard, server_ec);
        if (server_ec) co_return;
        co_await loop.send_all(tls, in.data(), in.size(), guard, server_ec);
        if (server_ec) co_return;
        server_close = co_await loop.graceful_close(tls, guard, server_close_ec);
    };
    auto client = [&]() -> Task<void> {
        Socket s = co_await loop.connect(listener.local_address(), guard);
        TlsStream tls = co_await loop.tls_connect(std::move(s), client_context, "localhost", guard, client_ec);
        if (client_ec) co_return;
        subject = tls.peer_subject();
        MessageBuffer buffer;
        co_await loop.write_line(tls, "hello", guard, client_ec);
        std::string_view got = co_await loop.read_line(tls, buffer, guard, client_ec);
        if (client_ec) co_return;
        line = std::string(got);
        co_await loop.write_message(tls, "framed", guard, client_ec);
        got = co_await loop.read_message(tls, buffer, guard, client_ec);
        if (client_ec) co_return;
        message = std::string(got);
        // 4 MiB is more than the socket buffers hold: the sends wait for room, the reads for data.
        co_await loop.send_all(tls, bulk.data(), bulk.size(), guard, client_ec);
        if (client_ec) co_return;
        std::size_t n = co_await loop.recv_exact(tls, echoed.data(), echoed.size(), guard, client_ec);
        if (client_ec || n != echoed.size()) co_return;
        client_close = co_await loop.graceful_close(tls, guard, client_close_ec);
    };
    run_task(loop, [&]() -> Task<void> {
        loop.spawn(server());
        loop.spawn(client());
        co_return;
    });
    INFO(server_ec.message() << " / " << client_ec.message());
    CHECK_FALSE(server_ec);
    CHECK_FALSE(client_ec);
    CHECK(subject.find("localhost") != std::string::npos);
    CHECK(line == "echo: hello");
    CHECK(message == "framed");
    CHECK((echoed == bulk));  // parenthesised: a mismatch must not print megabytes
    CHECK_FALSE(server_close_ec);
    CHECK_FALSE(client_close_ec);
    CHECK(server_close.ending == CloseResult::peer_closed);
    CHECK(client_close.ending == CloseResult::peer_closed);
}

TEST_CASE("TLS on the loop: one task reads while another writes to a slow reader", "[async][tls]") {
    // As on a Socket, one reader and one writer may wait on a TlsStream at once. A read that
    // would block while records were still unsent waited for writable too, which collided with
    // the writer's wait (operation_in_progress). Found by an independent review. Here the
    // reader waits first (to send what the stream holds), then the writer comes and takes over.
    EventLoop loop;
    Socket listener = listen_on(Address::loopback(Family::ipv4, 0));
    TlsContext server_context = tls_server_context();
    TlsContext client_context = tls_client_context();
    const auto bulk = test::pattern(8u << 20, 5);
    std::vector<unsigned char> received(bulk.size());
    std::error_code server_ec, reader_ec, writer_ec, client_ec;
    TlsStream server_tls;
    MessageBuffer buffer;
    std::string line;
    std::size_t queued = 0, written = 0, read = 0;
    bool spawned = false;
    auto reader = [&]() -> Task<void> {
        line = std::string(co_await loop.read_line(server_tls, buffer, guard, reader_ec));
    };
    auto writer = [&]() -> Task<void> {
        written = queued + co_await loop.send_all(server_tls, bulk.data() + queued, bulk.size() - queued, guard, writer_ec);
    };
    auto server = [&]() -> Task<void> {
        Socket s = co_await loop.accept(listener, guard);
        server_tls = co_await loop.tls_accept(std::move(s), server_context, guard, server_ec);
        if (server_ec) co_return;
        // Records the socket cannot take yet, queued without waiting: the reader then finds
        // them unsent with no writer waiting.
        while (server_tls.unsent() == 0 && queued < bulk.size()) {
            auto n = server_tls.try_send(bulk.data() + queued, std::min<std::size_t>(16384, bulk.size() - queued), server_ec);
            if (server_ec || !n) break;
            queued += *n;
        }
        CHECK(server_tls.unsent() > 0);
        loop.spawn(reader());
        loop.spawn(writer());
        spawned = true;
    };
    auto client = [&]() -> Task<void> {
        Socket s = co_await loop.connect(listener.local_address(), guard);
        TlsStream tls = co_await loop.tls_connect(std::move(s), client_context, "localhost", guard, client_ec);
        if (client_ec) co_return;
        // Not before the reader and the writer wait: spawned tasks start on the loop's next
        // step, which comes before a timer that is due 1 ms later.
        while (!spawned) co_await loop.sleep(1ms);
        co_await loop.sleep(1ms);
        co_await loop.write_line(tls, "hello", guard, client_ec);
        while (!client_ec && read < received.size()) {  // a reader that pauses
            std::size_t piece = std::min<std::size_t>(65536, received.size() - read);
            read += co_await loop.recv_exact(tls, received.data() + read, piece, guard, client_ec);
            co_await loop.sleep(1ms);
        }
    };
    run_task(loop, [&]() -> Task<void> {
        loop.spawn(server());
        loop.spawn(client());
        co_return;
    });
    INFO(server_ec.message() << " / reader: " << reader_ec.message() << " / writer: " << writer_ec.message()
                             << " / client: " << client_ec.message());
    CHECK_FALSE(server_ec);
    CHECK_FALSE(reader_ec);
    CHECK_FALSE(writer_ec);
    CHECK_FALSE(client_ec);
    CHECK(line == "hello");
    CHECK(written == bulk.size());
    CHECK(read == bulk.size());
    CHECK(received == bulk);
}

TEST_CASE("TLS on the loop: errors and timeouts, in both forms", "[async][tls]") {
    EventLoop loop;
    Socket listener = listen_on(Address::loopback(Family::ipv4, 0));
    TlsContext server_context = tls_server_context();
    TlsContext client_context = tls_client_context();
    std::string rejected;
    std::error_code silent_ec, recv_ec;
    std::size_t recv_result = 1;
    std::exception_ptr recv_thrown;
    auto start = std::chrono::steady_clock::now();
    run_task(loop, [&]() -> Task<void> {
        // A certificate for another name: the throwing form says whose and why.
        auto wrong_name = [&]() -> Task<void> {
            Socket s = co_await loop.accept(listener, guard);
            std::error_code ignored;
            TlsStream tls = co_await loop.tls_accept(std::move(s), server_context, guard, ignored);
        };
        loop.spawn(wrong_name());
        try {
            Socket s = co_await loop.connect(listener.local_address(), guard);
            TlsStream tls = co_await loop.tls_connect(std::move(s), client_context, "other.test", guard);
        } catch (const std::system_error& e) {
            rejected = e.what();
        }
        // A plain TCP peer that never says a word: the handshake ends at its timeout.
        Socket quiet = co_await loop.connect(listener.local_address(), guard);
        Socket accepted = co_await loop.accept(listener, guard);
        TlsStream handshake = co_await loop.tls_accept(std::move(accepted), server_context, 50ms, silent_ec);
        // A TLS peer with nothing to say: recv times out, then throws.
        auto idle = [&]() -> Task<void> {
            Socket s = co_await loop.accept(listener, guard);
            std::error_code ec;
            TlsStream tls = co_await loop.tls_accept(std::move(s), server_context, guard, ec);
            co_await loop.sleep(200ms);
        };
        loop.spawn(idle());
        Socket s = co_await loop.connect(listener.local_address(), guard);
        TlsStream tls = co_await loop.tls_connect(std::move(s), client_context, "localhost", guard);
        char c;
        recv_result = co_await loop.recv(tls, &c, 1, 30ms, recv_ec);
        try {
            co_await loop.recv(tls, &c, 1, 30ms);
        } catch (...) {
            recv_thrown = std::current_exception();
        }
    });
    INFO(rejected);
    CHECK(rejected.find("tls handshake with other.test") != std::string::npos);
    CHECK(rejected.find("hostname mismatch") != std::string::npos);
    CHECK(silent_ec == std::errc::timed_out);
    CHECK(recv_ec == std::errc::timed_out);
    CHECK(recv_result == 0);
    CHECK(transfer_code(recv_thrown) == std::errc::timed_out);
    CHECK(std::chrono::steady_clock::now() - start < guard / 2);
}
#endif
