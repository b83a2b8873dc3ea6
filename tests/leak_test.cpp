// Descriptor leaks: count open descriptors before and after (Linux: /proc/self/fd).
#include <sockets/sockets.hpp>

#include <chrono>
#include <thread>

#include "catch.hpp"
#include "support.hpp"

using namespace sockets;
using namespace std::chrono_literals;

TEST_CASE("10,000 connect/accept/close cycles leak no descriptor", "[leak]") {
    int before = test::open_descriptors();
    if (before < 0) return;  // the platform cannot count (Windows)
    Socket listener = listen_on(Address::loopback(Family::ipv4));
    for (int i = 0; i < 10000; ++i) {
        Socket client = connect_to(listener.local_address());
        Socket server = listener.accept();
        client.set_linger(std::chrono::seconds(0));  // reset: no TIME_WAIT pile-up over 10,000 ports
    }
    listener.close();
    CHECK(test::open_descriptors() == before);
}

TEST_CASE("errors thrown mid-operation leak no descriptor", "[leak]") {
    test::RefusingLocalhost refusing = test::refusing_localhost_port();
    Address nobody = refusing.v4.local_address();
    int before = test::open_descriptors();
    if (before < 0) return;
    for (int i = 0; i < 100; ++i) {
        CHECK_THROWS_AS(connect_to(nobody), std::system_error);           // refused connect
        CHECK_THROWS_AS(connect_to("localhost", nobody.port()), std::system_error);
        auto p = test::tcp_pair();                                         // peer gone mid-recv_exact
        p.client.send_all(std::string("ab"));
        p.client.close();
        char buffer[8];
        CHECK_THROWS_AS(p.server.recv_exact(buffer, sizeof buffer), TransferError);
        p.listener.close();                                                // accept on a closed listener
        CHECK_THROWS_AS(p.listener.accept(), std::system_error);
        CHECK_THROWS_AS(p.listener.accept(10ms), std::system_error);
        Socket released = Socket::tcp();                                   // released and re-adopted
        Socket adopted(released.release());
        Socket moved = std::move(adopted);
    }
    CHECK(test::open_descriptors() == before);
}

TEST_CASE("a Poller closes its own descriptor", "[leak]") {
    int before = test::open_descriptors();
    if (before < 0) return;
    for (int i = 0; i < 100; ++i) {
        Poller poller;
        auto p = test::tcp_pair();
        poller.add(p.server, Events::readable, 1);
        Poller moved = std::move(poller);
    }
    CHECK(test::open_descriptors() == before);
}
