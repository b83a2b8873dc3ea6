// A translation unit that includes <winsock2.h> first with its own small FD_SETSIZE: the
// library's select sets must not depend on it (an ODR violation with windows_test.cpp if they did).
#define FD_SETSIZE 8
#include <winsock2.h>

#include <sockets/sockets.hpp>

#include <vector>

// Registers more sockets than this unit's FD_SETSIZE in a SelectPoller and sees the last one ready.
bool small_fdset_unit_select_works() {
    using namespace sockets;
    SelectPoller poller;
    std::vector<Socket> sockets;
    for (int i = 0; i < 20; ++i) {
        sockets.push_back(Socket::udp());
        sockets.back().bind(Address::loopback(Family::ipv4));
        poller.add(sockets.back(), Events::readable, static_cast<std::uint64_t>(i));
    }
    Socket sender = Socket::udp();
    sender.send_to(sockets.back().local_address(), std::string("x"));
    for (const Ready& r : poller.wait(std::chrono::seconds(10)))
        if (r.token == 19) return true;
    return false;
}
