// Windows only: Winsock is started automatically, early enough for sockets in static objects
// (opened before main) and kept up until they are closed after main.
#include <sockets/sockets.hpp>

#include <algorithm>
#include <cstdio>
#include <cstdlib>

#include "catch.hpp"

using namespace sockets;

namespace {

struct StaticServer {
    Socket listener;
    StaticServer() : listener(listen_on(Address::parse("127.0.0.1:0"))) {}
    ~StaticServer() {
        // After main returned: Winsock must still be up, so closing works and reports success.
        std::error_code ec;
        listener.close(ec);
        if (ec) {
            std::fprintf(stderr, "closing a static socket after main failed: %s\n", ec.message().c_str());
            std::_Exit(3);
        }
    }
};

StaticServer static_server;  // constructed before main, before any test runs

}  // namespace

TEST_CASE("a socket opened in a static object before main works", "[windows]") {
    REQUIRE(static_server.listener.is_open());
    Socket client = connect_to(static_server.listener.local_address());
    Socket peer = static_server.listener.accept();
    client.send_all(std::string("static"));
    std::string text(6, '\0');
    peer.recv_exact(text);
    CHECK(text == "static");
}

TEST_CASE("Winsock errors map to the portable conditions", "[windows]") {
    CHECK(detail::os_error(WSAEWOULDBLOCK) == std::errc::operation_would_block);
    CHECK(detail::os_error(WSAECONNRESET) == std::errc::connection_reset);
    CHECK(detail::os_error(WSAEINTR) == std::errc::interrupted);
    CHECK(detail::os_error(WSAECONNREFUSED).message().size() > 0);
    CHECK(std::string(detail::os_error(WSAECONNREFUSED).category().name()) == "winsock");
}

TEST_CASE("including the library leaves std::min and std::max usable", "[windows]") {
    CHECK(std::min(1, 2) == 1);
    CHECK(std::max(1, 2) == 2);
}

bool small_fdset_unit_select_works();

TEST_CASE("a unit with its own FD_SETSIZE before <winsock2.h> shares the library's select sets", "[windows]") {
    CHECK(small_fdset_unit_select_works());
}
